"""What every cloaker provides: one user's photo files in, cloaked photo files out."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from audit.cloakers.budget import Budget, within_budget
from audit.images import OUTPUT_FORMATS, PhotoSkipped, decode_image, encode_image
from audit.paths import atomic_write_bytes
from audit.plugins import Nested, Plugin


class Cloaker(Plugin, ABC):
    """Cloaks one user's photos at a time (some cloakers pick a target from all of them).

    `cloak` writes one cloaked file per photo into `out_dir` and returns, per original, the
    cloaked file or the reason it could not be cloaked. Constructor arguments are the
    cloaker's parameters, as in scikit-learn: `params()` reads them back for reports and caches.
    """

    name: ClassVar[str]
    implementation: ClassVar[str] = "built-in"
    # True when a photo's cloak depends on the user's other photos (a shared target), so a
    # cache must key it on the whole set, not the photo alone.
    depends_on_user_photos: ClassVar[bool] = False
    # False for cloakers that hand back existing files (the originals, precomputed copies):
    # there is nothing to store.
    writes_files: ClassVar[bool] = True
    # True when `cloak` reads the photos `use_public_identities` named (a target's): an executor that runs
    # it elsewhere must send them too.
    uses_public_identities: ClassVar[bool] = False

    @abstractmethod
    def cloak(self, photos: list[Path], out_dir: Path) -> dict[Path, Path | str]: ...

    def use_public_identities(self, public: dict[str, list[Path]]) -> None:
        """Photos of identities outside the tracker's label set; a targeted cloaker picks its target there."""

    def user_notes(self, photos: list[Path]) -> dict[str, object]:
        """What the report should say about one user's cloak (a targeted cloaker names its target)."""
        return {}

    def check(self, needed: list[Path], dataset: list[Path]) -> dict[str, object]:
        """Before any work: can the photos the run `needed` be cloaked, out of the `dataset`'s photos?
        Raises when none can; returns what the report should say (nothing, for most cloakers)."""
        return {}

    @property
    def cloak_extractors(self) -> list[str]:
        """The models the cloak was optimised against (their `model_id`s): a tracker on one of them
        is a white-box test, any other a transfer test. Empty when none is known (an external
        tool's own models, noise)."""
        return []

    @property
    def cache_id(self) -> str:
        return f"{super().cache_id}|{self.implementation}"


def cloaked_name(original: Path, suffix: str) -> str:
    """`x.jpg` → `x_cloaked.png`: the name the Fawkes command line gives its output."""
    return f"{original.stem}_cloaked{suffix}"


class ImageCloaker(Cloaker):
    """A cloaker that works on decoded photos and saves them as posted (PNG, or JPEG at a quality).

    `budget` (`lpips:0.05`, `dssim:0.01`) bounds each saved photo's cost, measured as the reports measure it:
    a photo the cloak left over it is scaled back towards the original (`audit.cloakers.budget`), and one that
    fits only unchanged is a skip.
    """

    budget = Nested(Budget.parse)
    aliases = {"format": "output_format"}

    def __init__(self, output_format: str = "png", quality: int = 95, budget: str | Budget | None = None) -> None:
        """output_format: png, or jpeg (saved at `quality`): the copy as it is posted
        quality: the JPEG quality, 1–100 (png ignores it)
        budget: the most each saved copy may cost, METRIC:LIMIT (lpips:0.05, dssim:0.01); none: the cloak's own"""
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"format={output_format!r}: use png or jpeg")
        self.output_format = output_format
        self.quality = quality
        self.budget = budget

    def check(self, needed: list[Path], dataset: list[Path]) -> dict[str, object]:
        """An LPIPS budget needs LPIPS's weights: found or fetched before any photo is cloaked."""
        if self.budget is not None and self.budget.metric == "lpips":
            from audit.lpips import load_lpips

            load_lpips()
        return {}

    @abstractmethod
    def cloak_images(self, images: list[np.ndarray], keys: list[str]) -> list[np.ndarray | str]:
        """Cloaked uint8 photos (same sizes), or a skip reason each; `keys` seed per-photo randomness."""

    def cloak(self, photos: list[Path], out_dir: Path) -> dict[Path, Path | str]:
        outcome: dict[Path, Path | str] = {}
        images, keys, sources = [], [], []
        for path in photos:
            try:
                data = path.read_bytes()
                images.append(decode_image(data))
            except OSError as err:
                outcome[path] = f"unreadable file ({err.strerror or err})"
                continue
            except PhotoSkipped as skip:
                outcome[path] = skip.reason
                continue
            keys.append(hashlib.sha256(data).hexdigest())
            sources.append(path)
        budget = self.budget
        for path, image, result in zip(sources, images, self.cloak_images(images, keys)):
            if budget is not None and not isinstance(result, str):
                result = within_budget(budget, image, result, self.output_format, self.quality)
            if isinstance(result, str):
                outcome[path] = result
                continue
            target = out_dir / cloaked_name(path, OUTPUT_FORMATS[self.output_format])
            atomic_write_bytes(target, encode_image(result, self.output_format, self.quality))
            outcome[path] = target
        return outcome
