"""Statistics for honest figures: Wilson and clustered (users × photos) intervals, perceptual cost."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy import special  # the quantile functions scipy.stats calls, without importing scipy.stats (0.8 s)

from audit.records import Rate

Z95 = 1.959963984540054
SSIM_WINDOW = 11  # pixels; Gaussian σ 1.5, as tf.image.ssim
ALL = slice(None)  # every image of a batch, as an index
NO_RATE = Rate(rate=float("nan"), ci95=(float("nan"), float("nan")), n_photos=0)  # nothing to score


def wilson(successes: int, n: int) -> Rate:
    """Wilson score interval: well-behaved at 0% and 100%, where the normal interval collapses."""
    if n == 0:
        return NO_RATE
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact bounds, not rounding noise
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Rate(rate=p, ci95=(low, high), n_photos=n)


def mean_accuracy(rates: list[float], n: int) -> Rate:
    """The mean of several trackers' accuracies on the same n photos, with Wilson's interval over those
    photos (not over photos × trackers, which would overstate the evidence)."""
    if not rates:
        return NO_RATE
    mean = float(np.mean(rates))
    return replace(wilson(round(mean * n), n), rate=mean)


def clopper_pearson(successes: float, n: float) -> tuple[float, float]:
    """Exact binomial 95% interval; `successes` and `n` may be fractional (an effective sample)."""
    low = 0.0 if successes <= 0 else float(special.betaincinv(successes, n - successes + 1, 0.025))
    high = 1.0 if successes >= n else float(special.betaincinv(successes + 1, n - successes, 0.975))
    return low, high


def clustered_rate(successes: list[int], totals: list[int]) -> Rate:
    """Pooled rate over users, with a 95% interval that counts both the users and their photos.

    Photos of one user are not independent (one cloak, one face), so the evidence is fewer
    photos than it looks: Korn and Graubard's interval (Survey Methodology 24, 1998) shrinks
    the photos to an effective sample by the design effect that the spread between users shows
    (the ratio estimator's variance with users as clusters), then by (t₍photos−1₎ / t₍users−1₎)²
    so that three users cannot claim what three hundred would, and takes Clopper–Pearson's
    exact interval on it. At 0% or 100%, where the spread says nothing, and with one user, it
    is Clopper–Pearson over the photos: never a point, unlike a bootstrap over users there.
    """
    s, t = np.asarray(successes, float), np.asarray(totals, float)
    n, users = t.sum(), len(t)
    if n == 0:
        return replace(NO_RATE, n_users=users)
    rate = float(s.sum() / n)
    effective = n
    if users > 1 and 0 < rate < 1:
        variance = users / (users - 1) * float(((s - rate * t) ** 2).sum()) / n**2
        if variance > 0:
            effective = min(n, rate * (1 - rate) / variance)
        effective *= (special.stdtrit(n - 1, 0.975) / special.stdtrit(users - 1, 0.975)) ** 2
    return Rate(rate=rate, ci95=clopper_pearson(rate * effective, effective), n_photos=int(n), n_users=users)


def difference_interval(a: tuple[list[int], list[int]], b: tuple[list[int], list[int]], paired: bool, seed: int,
                        rounds: int = 2000) -> tuple[float, tuple[float, float]]:
    """Pooled rate of B minus A, (successes, totals) per user, with a 95% interval.

    Paired runs (the same users and photos) resample users together; unpaired runs resample
    each run's users on their own. With a single user on either side, Newcombe's interval from
    the two Wilson intervals (conservative for paired data).
    """
    (sa, ta), (sb, tb) = (np.asarray(x, float) for x in a), (np.asarray(x, float) for x in b)
    rate_a, rate_b = sa.sum() / ta.sum(), sb.sum() / tb.sum()
    diff = float(rate_b - rate_a)
    if len(ta) < 2 or len(tb) < 2:
        wa, wb = wilson(int(sa.sum()), int(ta.sum())), wilson(int(sb.sum()), int(tb.sum()))
        low = diff - math.hypot(rate_b - wb.ci95[0], wa.ci95[1] - rate_a)
        high = diff + math.hypot(wb.ci95[1] - rate_b, rate_a - wa.ci95[0])
        return diff, (max(-1.0, low), min(1.0, high))
    rng = np.random.default_rng(seed)
    picks_a = rng.integers(0, len(ta), size=(rounds, len(ta)))
    picks_b = picks_a if paired else rng.integers(0, len(tb), size=(rounds, len(tb)))
    diffs = sb[picks_b].sum(1) / np.maximum(tb[picks_b].sum(1), 1) - sa[picks_a].sum(1) / np.maximum(ta[picks_a].sum(1), 1)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return diff, (float(lo), float(hi))


def mcnemar(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs (photos one run hid and the other did not)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


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
