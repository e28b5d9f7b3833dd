"""Transformed photo files, cached like cloaks: the tracker reads files, so a transform writes them.

The cloak store already keys image-to-image results by content and exact parameters, writes
them atomically and resumes after an interruption; a transform reaches it through a small
cloaker-shaped adapter rather than a second store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from audit.cloakers.base import ImageCloaker
from audit.cloakers.store import CloakStore
from audit.paths import cache_dir
from countermeasures.transforms.base import Transform


class _TransformWriter(ImageCloaker):
    """Saves each transformed photo losslessly (PNG), so the tracker sees exactly its pixels."""

    name = "transform"

    def __init__(self, transform: Transform) -> None:
        super().__init__("png")
        self.transform = transform

    def params(self) -> dict[str, object]:
        return {"transform": self.transform.cache_key}

    def cloak_images(self, images: list[np.ndarray], keys: list[str]) -> list[np.ndarray | str]:
        return [self.transform(image, key) for image, key in zip(images, keys)]


def transform_files(transform: Transform, photos: list[Path], description: str = "") -> dict[Path, Path | str]:
    """Each photo's transformed file, or the reason it could not be transformed."""
    store = CloakStore(_TransformWriter(transform), root=cache_dir() / "transformed")
    outcome: dict[Path, Path | str] = {}
    with tqdm(total=len(photos), desc=description or transform.spec, unit="photo") as bar:
        for photo, result in store.cloak_user(photos, "", bar).items():
            outcome[photo] = result.path if result.path is not None else (result.reason or "not transformed")
    return outcome
