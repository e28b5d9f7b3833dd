"""Cloaked copies made elsewhere (any tool, any time), matched to the originals by file name."""

from __future__ import annotations

from pathlib import Path

from audit.cloakers.base import Cloaker
from audit.cloakers.matching import match_cloaked


class PrecomputedCloak(Cloaker):
    """Reads `dir`: `x.jpg` is cloaked by `x_cloaked.png`, `x_attacked.png` or `x.<any>`.

    `check(originals)` verifies, before any work, that every photo to cloak has exactly one
    copy and that no copy is left over (a leftover usually means a wrong folder).
    """

    name = "precomputed"
    implementation = "precomputed"
    writes_files = False

    def __init__(self, dir: str | Path) -> None:  # noqa: A002 - the option's public name
        self.dir = Path(dir)
        if not self.dir.is_dir():
            raise FileNotFoundError(f"precomputed: dir={self.dir} is not a folder")

    def params(self) -> dict[str, object]:
        return {"dir": str(self.dir)}

    def check(self, originals: list[Path]) -> None:
        match_cloaked(originals, self.dir, allow_extra=False)

    def cloak(self, photos: list[Path], out_dir: Path) -> dict[Path, Path | str]:
        return dict(match_cloaked(photos, self.dir))
