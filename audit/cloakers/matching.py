"""Match cloaked files to their originals by name: `x.jpg` ↔ `x_cloaked.png`, `x_attacked.png`, `x.*`."""

from __future__ import annotations

from pathlib import Path

from audit.images import IMAGE_SUFFIXES

CLOAKED_SUFFIXES = ("_cloaked", "_attacked")


def original_stem(cloaked: Path) -> str:
    stem = cloaked.stem
    for suffix in CLOAKED_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def index_cloaked(folder: Path) -> dict[str, Path]:
    """Every image under folder by the stem of the original it cloaks; two files for one stem is an error."""
    found: dict[str, Path] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        stem = original_stem(path)
        if stem in found:
            raise ValueError(f"{folder}: both {found[stem].relative_to(folder)} and {path.relative_to(folder)} "
                             f"claim to cloak {stem}")
        found[stem] = path
    return found


def match_cloaked(originals: list[Path], folder: Path, allow_extra: bool = True) -> dict[Path, Path]:
    """Each original's cloaked copy in folder; a missing one (or, unless allowed, an extra one) is an error."""
    found = index_cloaked(folder)
    stems = {}
    for original in originals:
        if original.stem in stems:
            raise ValueError(f"two originals share the name {original.stem} ({stems[original.stem]}, {original}); "
                             "cloaked copies are matched by name, so names must be unique")
        stems[original.stem] = original
    missing = [o for o in originals if o.stem not in found]
    if missing:
        raise FileNotFoundError(f"{folder}: no cloaked copy of {missing[0].name} (looked for {missing[0].stem}.*, "
                                f"{missing[0].stem}_cloaked.*, {missing[0].stem}_attacked.*)"
                                + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    extra = sorted(set(found) - set(stems))
    if extra and not allow_extra:
        raise ValueError(f"{folder}: {found[extra[0]].relative_to(folder)} matches no original photo"
                         + (f" ({len(extra) - 1} more)" if len(extra) > 1 else ""))
    return {original: found[original.stem] for original in originals}
