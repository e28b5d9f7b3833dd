"""LowKey (Cherepanova et al., "LowKey: Leveraging Adversarial Attacks to Protect Social Media
Users from Facial Recognition", ICLR 2021), re-implemented on cloak-audit's torch extractors.

The objective, from the paper (eq. 1) and its public code (`lowkey_attack.py` with
`util/attack_utils.py`, as FaceCure runs it): push the embedding of the photo, and of its
Gaussian-smoothed copy, away from the clean photo's, each term normalised by the clean
embedding's norm and summed over an ensemble of extractors,

    max_x'  Σ_models  ‖f(x') − f(x)‖² / ‖f(x)‖  +  ‖f(G(x')) − f(x)‖² / ‖f(x)‖  −  penalty(x, x')

with G a 7×7 Gaussian of σ = 3 (reflect-padded), a uniform start of ±0.005 (in 0–1 pixel
units), 50 signed-gradient steps of 0.0025, one start, the result clipped to the valid range.
The code's perceptual penalty is 0.05·LPIPS(AlexNet); LPIPS's backbone weights cannot be
fetched here, so the penalty is the one Fawkes uses, `1e6 · max(DSSIM − th, 0)²`, and the
iterate kept is the one that moves the features farthest within that DSSIM budget (the
`dssim=` option; the report names the substitution). The perturbation lives on the full photo
and reaches every model through the differentiable alignment, as LowKey's own warp does; so
its DSSIM is measured on the photo too, over the boxes around every model's chip
(`face_dssim`): not on the first model's resampled chip, whose interpolation averages the sign
steps' pixel-to-pixel noise away and which misses the forehead MobileFaceNet's chip sees, so
that cloaks came out at twice the budget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audit.cloakers.fawkes import MODES, PENALTY
from audit.cloakers.feature_space import FeatureSpaceCloak, seeded_noise
from audit.metrics import ALL, SSIM_WINDOW, SsimTo, hinge_excess

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


class LowKeyCloak(FeatureSpaceCloak):
    """LowKey against an ensemble (default dlib-resnet+mobilefacenet, leaving faceres unseen), DSSIM-budgeted.

    `dssim` is the DSSIM budget that stands in for LPIPS (default: Fawkes high's 0.017); `steps`
    and `step_size` (grey levels) are the paper's code's 50 and 0.0025·255.
    """

    name = "lowkey"
    revision = 2  # 2: the DSSIM budget measured on the photo over every model's face box, not on one resampled chip

    def __init__(self, extractor: str = "dlib-resnet+mobilefacenet", face_detector: str = "mtcnn",
                 dssim: float = MODES["high"][0], steps: int = STEPS, step_size: float = STEP_SIZE,
                 batch_size: int = 32, device: str = "auto", output_format: str = "png", quality: int = 95) -> None:
        super().__init__(extractor, face_detector, batch_size, device, output_format, quality)
        if not 0 < dssim < 0.5 or steps < 1 or step_size <= 0:
            raise ValueError("lowkey: dssim must lie in (0, 0.5), steps be at least 1, step_size positive")
        self.dssim = dssim
        self.steps = steps
        self.step_size = step_size

    def check(self, needed: list[Path], dataset: list[Path]) -> dict[str, object]:
        return {"substitution": f"perceptual penalty: DSSIM with Fawkes's hinge at {self.dssim} in place of "
                                "LowKey's 0.05·LPIPS(AlexNet), whose weights cannot be fetched here"}

    def optimise(self, photos: np.ndarray, matrices: list[np.ndarray], keys: list[str],
                 targets: list[np.ndarray] | None = None) -> np.ndarray:
        """Signed-gradient ascent from a uniform start seeded by each photo's key (so a photo's cloak
        never depends on its batch); the kept iterate is the farthest within the DSSIM budget."""
        device = self.torch_device
        models, original, _, sources = self.start_batch(photos, matrices)
        windows = torch.stack([face_windows(m.theta, m.size, *original.shape[2:]) for m in models]).any(0)
        start = seeded_noise(keys, original.shape[1:], torch.rand).to(device)
        pixels = (original + START_NOISE * (2 * start - 1)).clamp(0, 255)
        best = original.clone()
        best_score = torch.full((len(photos),), -torch.inf, device=device)
        budget = SsimTo(original)
        for step in range(self.steps + 1):  # the last pass only scores the final iterate
            pixels.requires_grad_(True)
            smoothed = gaussian_smoothing(pixels)
            chips = [[model.chips(view) for view in (pixels, smoothed)] for model in models]
            score = sum(((model.module(c) - source).pow(2).sum(1) / source.norm(dim=1))
                        for model, source, views in zip(models, sources, chips) for c in views)
            excess = hinge_excess(lambda index: face_dssim(pixels[index], budget, windows[index], index),
                                  self.dssim)
            gain = (score - PENALTY * excess**2).sum()
            (gradient,) = torch.autograd.grad(gain, [pixels])
            with torch.no_grad():
                better = (excess <= 0) & (score > best_score)
                best[better] = pixels[better]
                best_score = torch.where(better, score, best_score)
                if step < self.steps:
                    pixels = (pixels + self.step_size * gradient.sign()).clamp(0, 255)
        return self.finish_batch(best)
