"""Gaussian blur (Fawkes §8 sweeps its kernel size): smooths away a cloak's fine structure."""

from __future__ import annotations

import kornia
import numpy as np
import torch

from countermeasures.transforms.base import Transform


class GaussianBlur(Transform):
    """Gaussian blur with a `kernel`×`kernel` window; `sigma=0` takes OpenCV's default for the size."""

    name = "blur"

    def __init__(self, kernel: int = 5, sigma: float = 0.0, at: str = "train") -> None:
        """kernel: the window's side in pixels, odd
        sigma: the Gaussian's σ in pixels (0: OpenCV's rule from the kernel)"""
        super().__init__(at)
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"blur: kernel={kernel} must be an odd positive size")
        if sigma < 0:
            raise ValueError(f"blur: sigma={sigma} must not be negative")
        self.kernel = kernel
        self.sigma = sigma

    @property
    def effective_sigma(self) -> float:
        """`sigma`, or OpenCV's getGaussianKernel default for the kernel size when it is 0."""
        return self.sigma or 0.3 * ((self.kernel - 1) / 2 - 1) + 0.8

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        blurred = kornia.filters.gaussian_blur2d(pixels, (self.kernel, self.kernel), (self.effective_sigma, self.effective_sigma),
                                                 border_type="reflect")
        return blurred[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
