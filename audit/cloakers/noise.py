"""Random noise at a DSSIM budget: how much "protection" mere visible noise buys."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from audit.cloakers.base import ImageCloaker
from audit.metrics import dssim


class NoiseCloak(ImageCloaker):
    """Gaussian noise over the whole photo, scaled (by bisection) to `dssim` on the saved photo.

    A cloak whose protection is no better than this control's is not doing anything that
    targets the recognizer.
    """

    name = "noise"

    def __init__(self, dssim: float = 0.007, seed: int = 0, output_format: str = "png", quality: int = 95) -> None:
        super().__init__(output_format, quality)
        if not 0 < dssim < 0.5:
            raise ValueError(f"noise: dssim={dssim} must lie in (0, 0.5)")
        self.dssim = dssim
        self.seed = seed

    def cloak_images(self, images: list[np.ndarray], keys: list[str]) -> list[np.ndarray | str]:
        return [self._noisy(image, key) for image, key in zip(images, keys)]

    def _noisy(self, image: np.ndarray, key: str) -> np.ndarray:
        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        direction = np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(image.shape)
        original = torch.from_numpy(image).permute(2, 0, 1)[None].double()

        def apply(scale: float) -> tuple[np.ndarray, float]:
            noisy = np.clip(np.rint(image + scale * direction), 0, 255).astype(np.uint8)
            cost = float(dssim(original, torch.from_numpy(noisy).permute(2, 0, 1)[None].double())[0])
            return noisy, cost

        low, high = 0.0, 1.0
        while apply(high)[1] < self.dssim and high < 512:
            low, high = high, high * 2
        for _ in range(20):
            middle = (low + high) / 2
            low, high = (middle, high) if apply(middle)[1] < self.dssim else (low, middle)
        return apply(low)[0]
