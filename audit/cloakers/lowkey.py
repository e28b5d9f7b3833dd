"""LowKey (Cherepanova et al., "LowKey: Leveraging Adversarial Attacks to Protect Social Media
Users from Facial Recognition", ICLR 2021), re-implemented on cloak-audit's torch extractors.

The objective is the public code's (`lowkey_attack.py` with `util/attack_utils.py`, as FaceCure runs
it): push the unit-length embedding of the photo, and of its Gaussian-smoothed copy, away from the
clean photo's, the squared distance averaged over embedding dimensions, views and the models of
the ensemble, less 0.05·LPIPS(AlexNet) of the photo,

    max_x'  mean_{models, views, dims} (f(v(x')) − f(x))²  −  0.05 · LPIPS(x, x'),   v ∈ {identity, G}

with G a 7×7 Gaussian of σ = 3 (reflect-padded), a uniform start of ±0.005 (in 0–1 pixel units),
50 signed-gradient steps of 0.0025, one start, and the final iterate clipped to the valid range.
The perturbation lives on the full photo and reaches every model through the differentiable
alignment of the face detected in the original (LowKey's own warp does the same); LPIPS is taken
over the whole photo at its own size, as the reports measure it.

`perceptual=dssim` replaces the LPIPS penalty by Fawkes's hinge `1e6 · max(DSSIM − dssim, 0)²` over
the boxes around every model's chip and keeps the farthest iterate within it: the stand-in used
before LPIPS's weights were at hand, kept for comparison. A `budget` (every built-in cloak's) adds a
hinge on the photo's cost beside the penalty and keeps the farthest iterate within it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audit.cloakers.budget import Budget
from audit.cloakers.fawkes import MODES, PENALTY
from audit.cloakers.feature_space import FeatureSpaceCloak, FrozenModel, seeded_noise
from audit.extractors import ExtractorEnsemble
from audit.face.detection import FaceDetector
from audit.lpips import LpipsTo, load_lpips
from audit.perceptual import ALL, SSIM_WINDOW, SsimTo, hinge_excess

STEPS = 50
STEP_SIZE = 0.0025 * 255  # the code's 0.0025 in 0–1 pixel units
START_NOISE = 0.005 * 255
SMOOTHING_KERNEL = 7
SMOOTHING_SIGMA = 3.0


def gaussian_smoothing(photos: torch.Tensor, kernel: int = SMOOTHING_KERNEL,
                       sigma: float = SMOOTHING_SIGMA) -> torch.Tensor:
    """LowKey's G: a depthwise Gaussian, reflect-padded so the photo keeps its size."""
    steps = torch.arange(kernel, dtype=photos.dtype, device=photos.device) - (kernel - 1) / 2
    line = torch.exp(-steps**2 / (2 * sigma**2))
    weight = (line[:, None] * line[None, :]) / line.sum() ** 2
    channels = photos.shape[1]
    padded = F.pad(photos, [kernel // 2] * 4, mode="reflect")
    return F.conv2d(padded, weight.expand(channels, 1, kernel, kernel), groups=channels)


def face_windows(chip_to_photo: torch.Tensor, chip_size: int, height: int, width: int) -> torch.Tensor:
    """N×h×w: which valid SSIM windows of an H×W photo are centred in the box around each face chip."""
    corners = chip_to_photo.new_tensor([[0, 0, 1], [chip_size - 1, 0, 1], [0, chip_size - 1, 1],
                                        [chip_size - 1, chip_size - 1, 1]])
    points = corners @ chip_to_photo.transpose(1, 2)  # N×4×2 photo (x, y)
    low, high = points.amin(1), points.amax(1)
    half = SSIM_WINDOW // 2
    ys = torch.arange(half, height - half, device=chip_to_photo.device, dtype=points.dtype)
    xs = torch.arange(half, width - half, device=chip_to_photo.device, dtype=points.dtype)
    inside_y = (ys >= low[:, 1:2]) & (ys <= high[:, 1:2])
    inside_x = (xs >= low[:, 0:1]) & (xs <= high[:, 0:1])
    return inside_y[:, :, None] & inside_x[:, None, :]


def face_dssim(cloaked: torch.Tensor, original: torch.Tensor | SsimTo, windows: torch.Tensor,
               index: torch.Tensor | slice = ALL) -> torch.Tensor:
    """DSSIM per photo over the face, at the photo's own resolution: the SSIM windows in `windows`
    (the originals' at `index` when `original` holds more photos than `cloaked`)."""
    similarity = (original if isinstance(original, SsimTo) else SsimTo(original)).map(cloaked, index).mean(1)
    return (1 - (similarity * windows).sum((1, 2)) / windows.sum((1, 2)).clamp(min=1)) / 2


PERCEPTUAL = ("lpips", "dssim")
LPIPS_WEIGHT = 0.05  # the code's c_sim


class LowKeyCloak(FeatureSpaceCloak):
    """LowKey against an ensemble (default dlib-resnet+mobilefacenet, leaving faceres unseen), as its code runs it.

    `perceptual=lpips` (default): the code's objective, `weight`·LPIPS subtracted, the final iterate kept;
    `perceptual=dssim`: a DSSIM hinge at `dssim` over the face instead (the former stand-in). `steps` and
    `step_size` (grey levels) are the code's 50 and 0.0025·255; `smoothed=false` drops the smoothed view and
    `weight=0` the penalty (ablations). `budget` bounds the saved photo's cost as for every built-in cloak.
    """

    name = "lowkey"
    revision = 3  # 3: the public code's objective (unit embeddings, means, LPIPS), the DSSIM hinge an option

    def __init__(self, extractor: str | ExtractorEnsemble = "dlib-resnet+mobilefacenet",
                 face_detector: str | FaceDetector = "mtcnn", perceptual: str = "lpips", weight: float = LPIPS_WEIGHT,
                 dssim: float = MODES["high"][0], steps: int = STEPS, step_size: float = STEP_SIZE,
                 smoothed: bool = True, budget: str | Budget | None = None, batch_size: int = 32,
                 device: str = "auto", output_format: str = "png", quality: int = 95) -> None:
        """perceptual: the penalty on the photo: lpips (the code's), or dssim (Fawkes's hinge over the face)
        weight: the penalty's weight (the code's 0.05; 0 drops it)
        dssim: the DSSIM hinge's threshold, with perceptual=dssim
        steps: signed-gradient steps
        step_size: each step, in grey levels
        smoothed: also push the Gaussian-smoothed copy of the photo (false drops that view)"""
        super().__init__(extractor, face_detector, batch_size, device, output_format, quality, budget)
        if perceptual not in PERCEPTUAL:
            raise ValueError(f"lowkey: perceptual={perceptual!r}; choose {', '.join(PERCEPTUAL)}")
        if weight < 0 or not 0 < dssim < 0.5 or steps < 1 or step_size <= 0:
            raise ValueError("lowkey: weight must be at least 0, dssim lie in (0, 0.5), steps be at least 1, "
                             "step_size positive")
        self.perceptual = perceptual
        self.weight = weight
        self.dssim = dssim
        self.steps = steps
        self.step_size = step_size
        self.smoothed = smoothed

    def check(self, needed: list[Path], dataset: list[Path]) -> dict[str, object]:
        notes = dict(super().check(needed, dataset))
        if self.perceptual == "lpips":
            load_lpips()  # found or fetched, and read, before any photo is cloaked
        else:
            notes["substitution"] = (f"perceptual penalty: DSSIM with Fawkes's hinge at {self.dssim} over the face "
                                     "in place of LowKey's 0.05·LPIPS(AlexNet) (perceptual=dssim)")
        return notes

    def features_moved(self, models: list[FrozenModel], targets: list[torch.Tensor],
                       pixels: torch.Tensor) -> torch.Tensor:
        """Per photo, the code's feature term: (f(v(x')) − f(x))² of unit embeddings, averaged over dimensions,
        views and models."""
        views = [pixels, gaussian_smoothing(pixels)] if self.smoothed else [pixels]
        terms = [(F.normalize(model.module(model.chips(view)), dim=1) - target).pow(2).mean(1)
                 for model, target in zip(models, targets) for view in views]
        return torch.stack(terms).mean(0)

    def optimise(self, photos: np.ndarray, matrices: list[np.ndarray], keys: list[str],
                 targets: list[np.ndarray] | None = None) -> np.ndarray:
        """Signed-gradient ascent from a uniform start seeded by each photo's key (so a photo's cloak never
        depends on its batch). Without a hinge the final iterate is the cloak (as in the code); with one
        (perceptual=dssim, a budget) it is the farthest iterate within every hinge."""
        device = self.torch_device
        models, original, _, sources = self.start_batch(photos, matrices)
        clean = [F.normalize(source, dim=1) for source in sources]
        hinges = []  # (cost of the photos at an index, limit): each kept within, with Fawkes's penalty
        if self.perceptual == "lpips":
            lpips_to = LpipsTo(load_lpips(device=device), original)
        else:
            windows = torch.stack([face_windows(m.theta, m.size, *original.shape[2:]) for m in models]).any(0)
            face = SsimTo(original)
            hinges.append((lambda x, index: face_dssim(x, face, windows[index], index), self.dssim))
        if (budget := self.budget) is not None:
            hinges.append((budget.on_batch(original), budget.limit))
        start = seeded_noise(keys, original.shape[1:], torch.rand).to(device)
        pixels = original + START_NOISE * (2 * start - 1)  # the code clips only its result
        best, best_score = original.clone(), torch.full((len(photos),), -torch.inf, device=device)
        for step in range(self.steps + (1 if hinges else 0)):  # with hinges, a last pass scores the final iterate
            pixels.requires_grad_(True)
            score = self.features_moved(models, clean, pixels)
            gain = score
            if self.perceptual == "lpips" and self.weight:
                gain = gain - self.weight * lpips_to.distance(pixels)
            excesses = [hinge_excess(lambda index, cost=cost: cost(pixels[index].clamp(0, 255), index), limit)
                        for cost, limit in hinges]
            for excess in excesses:
                gain = gain - PENALTY * excess**2
            (gradient,) = torch.autograd.grad(gain.sum(), [pixels])
            with torch.no_grad():
                if hinges:
                    better = torch.stack([excess <= 0 for excess in excesses]).all(0) & (score > best_score)
                    best[better] = pixels[better].clamp(0, 255)
                    best_score = torch.where(better, score, best_score)
                if step < self.steps:
                    pixels = pixels + self.step_size * gradient.sign()
        return self.finish_batch(best if hinges else pixels.detach().clamp(0, 255))
