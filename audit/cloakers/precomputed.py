"""Cloaked copies made elsewhere (any tool, any time), matched to the originals by file name."""

from __future__ import annotations

import logging
from pathlib import Path

from audit.cloakers.base import Cloaker
from audit.cloakers.matching import FAWKES_V03_MODES, NAMING_RULE, CopyIndex, match_copies, rules_used

log = logging.getLogger(__name__)


class PrecomputedCloak(Cloaker):
    """Reads `dir`: `x.jpg` is cloaked by `x_high_cloaked.png` (Fawkes v0.3), `x_cloaked.png` (v1.0),
    `x_attacked.png` (LowKey) or `x.<any>`, flat or in sub-folders; `mode=` picks one Fawkes v0.3 mode
    where a folder holds several.

    A cloak developer cloaks a whole data set once (`audit cloak DATASET --out DIR`) and audits
    it many times: the run uses the copies it needs and reports how many it left unused and which
    naming rule matched them. A needed copy that is missing is a skip for that photo; none at all
    is an error.
    """

    name = "precomputed"
    implementation = "precomputed"
    writes_files = False

    def __init__(self, dir: str, mode: str | None = None) -> None:  # noqa: A002 - the option's public name
        """dir: the folder of cloaked copies (flat, or one sub-folder per identity)
        mode: the Fawkes v0.3 mode whose copies to take (x_MODE_cloaked.png) where the folder holds several"""
        if not Path(dir).is_dir():
            raise FileNotFoundError(f"precomputed: dir={dir} is not a folder")
        if mode is not None and mode not in FAWKES_V03_MODES:
            raise ValueError(f"precomputed: mode={mode!r}; Fawkes v0.3 names its copies with "
                             f"{', '.join(FAWKES_V03_MODES)}")
        self.dir = dir
        self.mode = mode
        self._index: CopyIndex | None = None

    @property
    def index(self) -> CopyIndex:
        if self._index is None:
            self._index = CopyIndex.of(Path(self.dir))
        return self._index

    def check(self, needed: list[Path], dataset: list[Path]) -> dict[str, object]:
        folder = Path(self.dir)
        matched = match_copies(needed, self.index, self.mode)
        if needed and not matched:
            raise FileNotFoundError(f"precomputed: none of the {len(needed)} photos to cloak has a copy under {folder} "
                                    f"({len(self.index.files)} image(s) there). Naming rule: {NAMING_RULE}")
        strays = [str(p.relative_to(folder)) for p in self.index.strays({p.stem for p in dataset})]
        if strays:
            log.warning("precomputed: %d file(s) under %s match no photo of the data set: %s%s", len(strays), folder,
                        ", ".join(strays[:5]), " ..." if len(strays) > 5 else "")
        used = len({copy.path for copy in matched.values()})
        return {"dir": str(folder), "copies": len(self.index.files), "used": used,
                "unused": len(self.index.files) - used, "missing": len(needed) - len(matched),
                "not_in_dataset": strays, "naming": rules_used(matched)}

    def cloak(self, photos: list[Path], out_dir: Path) -> dict[Path, Path | str]:
        matched = match_copies(photos, self.index, self.mode)
        outcome: dict[Path, Path | str] = {}
        for photo in photos:
            copy = matched.get(photo)
            if copy is None:
                outcome[photo] = f"no cloaked copy under {self.dir} ({NAMING_RULE})"
            elif copy.path in self.index.broken:
                outcome[photo] = f"cloaked copy {copy.path.name} is a {self.index.broken[copy.path]}"
            else:
                outcome[photo] = copy.path
        return outcome
