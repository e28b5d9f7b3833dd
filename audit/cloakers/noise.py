"""Random noise at a perceptual budget: how much "protection" mere visible noise buys."""

from __future__ import annotations

import hashlib

import numpy as np

from audit.cloakers.base import ImageCloaker
from audit.cloakers.budget import BISECTION_STEPS, Budget, as_saved

MAX_SCALE = 512.0  # grey levels of noise σ; far past any budget


class NoiseCloak(ImageCloaker):
    """Gaussian noise over the whole photo, scaled (by bisection) up to `budget` on the saved photo.

    A cloak whose protection is no better than this control's, at the same budget, is not doing
    anything that targets the recognizer.
    """

    name = "noise"
    renamed = {"dssim": "budget"}  # noise:dssim=D is now noise:budget=dssim:D
    revision = 2  # 2: the budget in either metric (budget=dssim:D or lpips:L), bisected to a finer step

    def __init__(self, budget: str | Budget = "dssim:0.007", seed: int = 0, output_format: str = "png",
                 quality: int = 95) -> None:
        """budget: the cost each copy's noise is scaled up to, METRIC:LIMIT (dssim:0.007, lpips:0.02)
        seed: the noise's draw (each photo's own, from its content and this seed)"""
        super().__init__(output_format, quality, budget)
        self.seed = seed

    def cloak_images(self, images: list[np.ndarray], keys: list[str]) -> list[np.ndarray | str]:
        return [self._noisy(image, key) for image, key in zip(images, keys)]

    def _noisy(self, image: np.ndarray, key: str) -> np.ndarray:
        budget = self.budget
        digest = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        direction = np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(image.shape)

        def noisy(scale: float) -> np.ndarray:
            return np.clip(np.rint(image + scale * direction), 0, 255).astype(np.uint8)

        def fits(scale: float) -> bool:
            return budget.measure(image, as_saved(noisy(scale), self.output_format, self.quality)) <= budget.limit

        low, high = 0.0, 1.0
        while fits(high) and high < MAX_SCALE:
            low, high = high, high * 2
        for _ in range(BISECTION_STEPS + 8):
            middle = (low + high) / 2
            low, high = (middle, high) if fits(middle) else (low, middle)
        return noisy(low)
