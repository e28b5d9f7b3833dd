"""Match cloaked files to their originals by the names the real tools give them.

Fawkes v1.0 writes `x_cloaked.png`, Fawkes v0.3 (the version its paper and Radiya-Dixit & Tramèr
evaluate) `x_<mode>_cloaked.png`, LowKey `x_attacked.png`, and `audit cloak` keeps the original's
stem (`x.png`). A file name can read several ways (`a_high_cloaked.png` is v0.3's copy of `a.jpg`,
v1.0's copy of `a_high.jpg` or a same-name copy of `a_high_cloaked.jpg`), so every reading is
indexed and the data set's originals decide: a copy claimed by two originals goes to the more
specific rule. Copies may sit flat in one folder or in identity sub-folders (as `audit cloak` writes
them); when several share a stem, the one in a folder named like the original's wins.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from audit.datasets.folders import list_images


@dataclass(frozen=True)
class NamingRule:
    name: str
    pattern: re.Pattern[str]  # on the copy's stem: group `stem` is the original's, group `mode` if the name has one
    example: str


FAWKES_V03_MODES = ("min", "low", "mid", "high", "ultra")
NAMING_RULES = (  # most specific first: a copy two originals claim goes to the earlier rule
    NamingRule("fawkes-v0.3", re.compile(rf"(?P<stem>.+)_(?P<mode>{'|'.join(FAWKES_V03_MODES)})_cloaked"),
               "x_high_cloaked.png"),
    NamingRule("fawkes-v1.0", re.compile(r"(?P<stem>.+)_cloaked"), "x_cloaked.png"),
    NamingRule("lowkey", re.compile(r"(?P<stem>.+)_attacked"), "x_attacked.png"),
    NamingRule("same-name", re.compile(r"(?P<stem>.+)"), "x.png"),
)
RULE_RANK = {rule.name: rank for rank, rule in enumerate(NAMING_RULES)}
NAMING_RULE = ("x.jpg is cloaked by "
               + ", ".join(f"{r.example.removesuffix('.png')}.* ({r.name})" for r in NAMING_RULES)
               + " (.png, .jpg, .jpeg, .webp), anywhere under the folder; among several, the one in a folder named "
               "like the original's; mode= picks one Fawkes v0.3 mode")


@dataclass(frozen=True)
class Copy:
    """One reading of a file's name: the copy of an original whose stem is `stem`, by `rule`."""

    path: Path
    stem: str
    rule: str
    mode: str | None = None


def readings(path: Path) -> list[Copy]:
    """Every way the naming rules read `path`, most specific first."""
    found = []
    for rule in NAMING_RULES:
        if match := rule.pattern.fullmatch(path.stem):
            found.append(Copy(path, match["stem"], rule.name, match.groupdict().get("mode")))
    return found


@dataclass
class CopyIndex:
    """Every image under a folder, read every way, grouped by the stem of the original it would cloak."""

    folder: Path
    files: list[Path]
    broken: dict[Path, str]  # broken links among the files, with their reason
    by_stem: dict[str, list[Copy]]

    @classmethod
    def of(cls, folder: Path) -> CopyIndex:
        listing = list_images(folder)
        files = sorted([*listing.paths, *listing.broken])
        by_stem: dict[str, list[Copy]] = {}
        for path in files:
            for copy in readings(path):
                by_stem.setdefault(copy.stem, []).append(copy)
        return cls(folder, files, dict(listing.broken), by_stem)

    def strays(self, stems: set[str]) -> list[Path]:
        """Files that no reading pairs with an original of these stems."""
        return [p for p in self.files if not any(c.stem in stems for c in readings(p))]


def match_copies(originals: list[Path], index: CopyIndex, mode: str | None = None) -> dict[Path, Copy]:
    """Each original's copy in `index`; originals without one are left out.

    A file is never its own copy (a tool may write beside the originals), `mode` drops Fawkes v0.3
    copies of any other mode, and two candidates left for one original are an error that names them.
    """
    sharing = Counter(original.stem for original in originals)
    candidates: dict[Path, list[Copy]] = {}
    for original in originals:
        copies = [c for c in index.by_stem.get(original.stem, [])
                  if c.path != original and (mode is None or c.mode in (None, mode))]
        in_own_folder = [c for c in copies if c.path.parent.name == original.parent.name]
        if sharing[original.stem] > 1 or (len(copies) > 1 and in_own_folder):
            copies = in_own_folder  # originals of one stem in several folders: only a folder's name can tell
        candidates[original] = copies
    owner: dict[Path, tuple[int, Path]] = {}  # each copy file → (rule rank, original) of its most specific claim
    for original, copies in candidates.items():
        for copy in copies:
            rank = RULE_RANK[copy.rule]
            if copy.path in owner and owner[copy.path][0] == rank:
                raise ValueError(f"{index.folder}: {copy.path.relative_to(index.folder)} could cloak both "
                                 f"{owner[copy.path][1]} and {original}")
            if copy.path not in owner or rank < owner[copy.path][0]:
                owner[copy.path] = (rank, original)
    matched: dict[Path, Copy] = {}
    for original, copies in candidates.items():
        copies = [c for c in copies if owner[c.path][1] == original]
        if len(copies) > 1:
            raise ValueError(ambiguity(original, copies, index.folder))
        if copies:
            matched[original] = copies[0]
    return matched


def ambiguity(original: Path, copies: list[Copy], folder: Path) -> str:
    names = ", ".join(f"{c.path.relative_to(folder)} ({c.rule})" for c in copies)
    modes = sorted({c.mode for c in copies if c.mode})
    pick = f"; pick one Fawkes mode with mode= ({', '.join(modes)})" if len(modes) > 1 else \
        "; keep one copy per original in the folder"
    return f"{folder}: {names} all claim to cloak {original.parent.name}/{original.name}{pick}"


def rules_used(matched: dict[Path, Copy]) -> dict[str, int]:
    """How many copies each naming rule matched, for the report."""
    return dict(Counter(copy.rule for copy in matched.values()).most_common())


def match_cloaked(originals: list[Path], folder: Path, mode: str | None = None,
                  allow_extra: bool = True) -> dict[Path, Copy]:
    """Each original's cloaked copy in folder; a missing one (or, unless allowed, an extra one) is an error."""
    index = CopyIndex.of(folder)
    matched = match_copies(originals, index, mode)
    missing = [o for o in originals if o not in matched]
    if missing:
        raise FileNotFoundError(f"{folder}: no cloaked copy of {missing[0].name}"
                                + (f" and {len(missing) - 1} more" if len(missing) > 1 else "") + f" ({NAMING_RULE})")
    extra = sorted(set(index.files) - {c.path for c in matched.values()} - set(originals))
    if extra and not allow_extra:
        raise ValueError(f"{folder}: {extra[0].relative_to(folder)} matches none of the originals"
                         + (f" ({len(extra) - 1} more)" if len(extra) > 1 else ""))
    return matched
