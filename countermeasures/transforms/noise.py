"""Additive Gaussian noise (Fawkes §8 sweeps σ): drowns a small perturbation in a larger random one."""

from __future__ import annotations

import numpy as np

from countermeasures.transforms.base import Transform


class GaussianNoise(Transform):
    """Gaussian noise of standard deviation `sigma` grey levels, rounded and clipped to 0..255."""

    name = "noise"

    def __init__(self, sigma: float = 8.0, at: str = "train") -> None:
        """sigma: the noise's standard deviation, in grey levels"""
        super().__init__(at)
        if sigma <= 0:
            raise ValueError(f"noise: sigma={sigma} must be positive")
        self.sigma = sigma

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noisy = image + rng.normal(0.0, self.sigma, image.shape)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
