"""What a cloak costs the eye: SSIM and DSSIM (differentiable, as `tf.image.ssim`), PSNR, L2 and L∞ of a photo
against its original, and the one table of the cost metrics a visibility budget is stated in (`COST_METRICS`),
which budgets, optimisers and the reports' photo costs all read."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

SSIM_WINDOW = 11  # pixels; Gaussian σ 1.5, as tf.image.ssim
ALL = slice(None)  # every image of a batch, as an index


@functools.lru_cache(maxsize=16)
def _valid_blur_matrix(length: int, size: int = SSIM_WINDOW, sigma: float = 1.5) -> torch.Tensor:
    """(length − size + 1) × length: each row one Gaussian window over the valid positions."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    rows = length - size + 1
    if rows < 1:
        raise ValueError(f"SSIM needs images of at least {size}×{size} pixels")
    matrix = torch.zeros(rows, length, dtype=torch.float64)
    for i in range(rows):
        matrix[i, i : i + size] = g
    return matrix


class SsimTo:
    """SSIM against fixed reference images, their local statistics blurred once.

    An optimiser compares every iterate with the same clean images: of the five blurred
    statistics, the reference's mean and energy never change, so each call blurs three.
    Windows are 11×11 Gaussian (σ 1.5) as `tf.image.ssim`; differentiable, so cloakers use
    it as a loss. The Gaussian is separable, so the statistics are blurred together as two
    matrix products (much faster on a CPU than a grouped 11×11 convolution).
    """

    def __init__(self, reference: torch.Tensor, max_val: float = 255.0) -> None:
        self.rows = _valid_blur_matrix(reference.shape[2]).to(reference)
        self.cols = _valid_blur_matrix(reference.shape[3]).to(reference)
        self.reference = reference
        self.c1, self.c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
        self.mean, energy = self._blurred(reference, reference * reference)
        self.variance = energy - self.mean**2

    def _blurred(self, *statistics: torch.Tensor) -> tuple[torch.Tensor, ...]:
        blurred = self.rows.to(statistics[0]) @ torch.cat(statistics, dim=1) @ self.cols.to(statistics[0]).T
        return blurred.split(statistics[0].shape[1], dim=1)

    def map(self, images: torch.Tensor, index: torch.Tensor | slice = ALL) -> torch.Tensor:
        """SSIM at every valid 11×11 window (N×C×H×W → N×C×(H−10)×(W−10)) of images compared with
        the references at `index` (all of them by default)."""
        mu_a, aa, ab = self._blurred(images, images * images, images * self.reference[index])
        mu_b = self.mean[index]
        luminance = (2 * mu_a * mu_b + self.c1) / (mu_a**2 + mu_b**2 + self.c1)
        contrast = (2 * (ab - mu_a * mu_b) + self.c2) / (aa - mu_a**2 + self.variance[index] + self.c2)
        return luminance * contrast

    def dssim(self, images: torch.Tensor, index: torch.Tensor | slice = ALL) -> torch.Tensor:
        """Fawkes's perceptual budget per image, (1 − SSIM) / 2, against the references at `index`."""
        return (1 - self.map(images, index).mean(dim=(1, 2, 3))) / 2


def hinge_excess(measure: Callable[[torch.Tensor | slice], torch.Tensor], budget: float) -> torch.Tensor:
    """max(measure − budget, 0) for each item, differentiable, where `measure(index)` measures the
    items at `index`. It is measured for all of them without a gradient, then again with one for those
    over the budget only, as the hinge is flat below it: the DSSIM with its backward pass is about a fifth
    of a Fawkes step, and after its first steps a third of the photos or fewer are over the budget."""
    with torch.no_grad():
        measured = measure(ALL)
    over = (measured > budget).nonzero()[:, 0]
    excess = torch.zeros_like(measured)
    return excess.index_put((over,), measure(over) - budget) if len(over) else excess


def ssim_map(a: torch.Tensor, b: torch.Tensor, max_val: float = 255.0) -> torch.Tensor:
    """SSIM at every valid 11×11 window (N×C×H×W → N×C×(H−10)×(W−10)), as `tf.image.ssim`."""
    return SsimTo(b, max_val).map(a)


def ssim(a: torch.Tensor, b: torch.Tensor, max_val: float = 255.0) -> torch.Tensor:
    """SSIM per image (N×C×H×W → N), as `tf.image.ssim`: the map averaged over positions and channels."""
    return ssim_map(a, b, max_val).mean(dim=(1, 2, 3))


def dssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Fawkes's perceptual budget: (1 − SSIM) / 2."""
    return (1 - ssim(a, b)) / 2


@dataclass(frozen=True)
class PerceptualCost:
    dssim: float
    psnr: float
    l2: float
    linf: float
    lpips: float | None = None  # LPIPS(AlexNet, v0.1), measured where its weights are (audit.costs)


def perceptual_cost(original: np.ndarray, cloaked: np.ndarray) -> PerceptualCost:
    """How visible a cloak is on the photo as posted (both H×W×3 uint8, same size)."""
    if original.shape != cloaked.shape:
        raise ValueError(f"cloaked photo is {cloaked.shape[1]}×{cloaked.shape[0]}, "
                         f"the original {original.shape[1]}×{original.shape[0]}")
    a = torch.from_numpy(original).permute(2, 0, 1)[None].double()
    b = torch.from_numpy(cloaked).permute(2, 0, 1)[None].double()
    diff = (a - b)
    mse = float((diff**2).mean())
    psnr = float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)
    return PerceptualCost(float(dssim(a, b)[0]), psnr, float(diff.norm() / 255.0), float(diff.abs().max()))


@dataclass(frozen=True)
class CostMetric:
    """One yardstick of a cloak's visibility that a budget can be stated in: the open range its limits lie in, its
    value on a photo as saved, and a differentiable version for an optimiser's hinge."""

    name: str
    limits: tuple[float, float]
    on_photo: Callable[[np.ndarray, np.ndarray], float]  # (original, photo), H×W×3 uint8 of one size → cost
    # originals (N×3×H×W, 0–255) → cost(photos, index): each photo against the originals at `index`
    against: Callable[[torch.Tensor], Callable[[torch.Tensor, torch.Tensor | slice], torch.Tensor]]


def _lpips_on_photo(original: np.ndarray, photo: np.ndarray) -> float:
    from audit.lpips import lpips_distance

    return lpips_distance(original, photo)


def _lpips_against(originals: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor | slice], torch.Tensor]:
    from audit.lpips import LpipsTo, load_lpips

    return LpipsTo(load_lpips(device=originals.device), originals).distance


COST_METRICS: dict[str, CostMetric] = {metric.name: metric for metric in (
    CostMetric("lpips", (0.0, 1.0), _lpips_on_photo, _lpips_against),
    CostMetric("dssim", (0.0, 0.5), lambda original, photo: perceptual_cost(original, photo).dssim,
               lambda originals: SsimTo(originals).dssim),
)}
