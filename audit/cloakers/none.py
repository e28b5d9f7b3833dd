"""The control arm's cloaker: photos are posted exactly as they are."""

from __future__ import annotations

from pathlib import Path

from audit.cloakers.base import Cloaker


class NoCloak(Cloaker):
    """Leaves every photo untouched (the original file is what the tracker sees)."""

    name = "none"
    writes_files = False

    def cloak(self, photos: list[Path], out_dir: Path) -> dict[Path, Path | str]:
        return {path: path for path in photos}
