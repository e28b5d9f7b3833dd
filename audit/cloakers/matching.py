"""Match cloaked files to their originals by name: `x.jpg` ↔ `x_cloaked.png`, `x_attacked.png`, `x.*`.

Copies may sit flat in one folder or in identity sub-folders (as `audit cloak` writes them);
when several copies share a stem, the one in a folder named like the original's wins.
"""

from __future__ import annotations

from pathlib import Path

from audit.images import IMAGE_SUFFIXES

CLOAKED_SUFFIXES = ("_cloaked", "_attacked")
NAMING_RULE = ("x.jpg is cloaked by x_cloaked.*, x_attacked.* or x.* (.png, .jpg, .jpeg, .webp), anywhere "
               "under the folder; among several, the one in a folder named like the original's")


def original_stem(cloaked: Path) -> str:
    stem = cloaked.stem
    for suffix in CLOAKED_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def index_cloaked(folder: Path) -> dict[str, list[Path]]:
    """Every image under folder, grouped by the stem of the original it cloaks."""
    found: dict[str, list[Path]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        found.setdefault(original_stem(path), []).append(path)
    return found


def match_copies(originals: list[Path], folder: Path, index: dict[str, list[Path]]) -> dict[Path, Path]:
    """Each original's copy in `index` (of `folder`); originals without one are left out.

    A stem with one copy and one original pairs them; otherwise the copy must sit in a folder
    named like the original's, and two candidates there are an error that names them.
    """
    sharing: dict[str, int] = {}
    for original in originals:
        sharing[original.stem] = sharing.get(original.stem, 0) + 1
    matched: dict[Path, Path] = {}
    for original in originals:
        copies = index.get(original.stem, [])
        if len(copies) > 1 or sharing[original.stem] > 1:
            copies = [c for c in copies if c.parent.name == original.parent.name]
        if len(copies) > 1:
            names = ", ".join(str(c.relative_to(folder)) for c in copies)
            raise ValueError(f"{folder}: {names} all claim to cloak {original.parent.name}/{original.name}")
        if copies:
            matched[original] = copies[0]
    return matched


def match_cloaked(originals: list[Path], folder: Path, allow_extra: bool = True) -> dict[Path, Path]:
    """Each original's cloaked copy in folder; a missing one (or, unless allowed, an extra one) is an error."""
    index = index_cloaked(folder)
    matched = match_copies(originals, folder, index)
    missing = [o for o in originals if o not in matched]
    if missing:
        raise FileNotFoundError(f"{folder}: no cloaked copy of {missing[0].name}"
                                + (f" and {len(missing) - 1} more" if len(missing) > 1 else "") + f" ({NAMING_RULE})")
    extra = sorted(set(p for copies in index.values() for p in copies) - set(matched.values()))
    if extra and not allow_extra:
        raise ValueError(f"{folder}: {extra[0].relative_to(folder)} matches none of the originals"
                         + (f" ({len(extra) - 1} more)" if len(extra) > 1 else ""))
    return matched
