"""Cloaked copies made elsewhere (any tool, any time), matched to the originals by file name."""

from __future__ import annotations

import logging
from pathlib import Path

from audit.cloakers.base import Cloaker
from audit.cloakers.matching import NAMING_RULE, index_cloaked, match_copies

log = logging.getLogger(__name__)


class PrecomputedCloak(Cloaker):
    """Reads `dir`: `x.jpg` is cloaked by `x_cloaked.png`, `x_attacked.png` or `x.<any>`, flat or in sub-folders.

    A cloak developer cloaks a whole data set once (`audit cloak DATASET --out DIR`) and audits
    it many times: the run uses the copies it needs and reports how many it left unused. A
    needed copy that is missing is a skip for that photo; none at all is an error.
    """

    name = "precomputed"
    implementation = "precomputed"
    writes_files = False

    def __init__(self, dir: str) -> None:  # noqa: A002 - the option's public name
        if not Path(dir).is_dir():
            raise FileNotFoundError(f"precomputed: dir={dir} is not a folder")
        self.dir = dir
        self._index: dict[str, list[Path]] | None = None

    @property
    def index(self) -> dict[str, list[Path]]:
        if self._index is None:
            self._index = index_cloaked(Path(self.dir))
        return self._index

    def check(self, needed: list[Path], dataset: list[Path]) -> dict[str, object]:
        folder = Path(self.dir)
        copies = [p for paths in self.index.values() for p in paths]
        matched = match_copies(needed, folder, self.index)
        if needed and not matched:
            raise FileNotFoundError(f"precomputed: none of the {len(needed)} photos to cloak has a copy under {folder} "
                                    f"({len(copies)} image(s) there). Naming rule: {NAMING_RULE}")
        stems = {p.stem for p in dataset}
        strays = [str(p.relative_to(folder)) for stem, paths in self.index.items() if stem not in stems for p in paths]
        if strays:
            log.warning("precomputed: %d file(s) under %s match no photo of the data set: %s%s", len(strays), folder,
                        ", ".join(strays[:5]), " ..." if len(strays) > 5 else "")
        used = len(set(matched.values()))
        return {"dir": str(folder), "copies": len(copies), "used": used, "unused": len(copies) - used,
                "missing": len(needed) - len(matched), "not_in_dataset": strays}

    def cloak(self, photos: list[Path], out_dir: Path) -> dict[Path, Path | str]:
        matched = match_copies(photos, Path(self.dir), self.index)
        return {p: matched.get(p, f"no cloaked copy under {self.dir} ({NAMING_RULE})") for p in photos}
