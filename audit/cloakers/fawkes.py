"""Fawkes v1.0 re-implemented on cloak-audit's torch extractors (the `fawkes` built-in).

The optimisation follows Fawkes v1.0: untargeted — push the face's embedding away from its
own, the distance normalised by the source embedding's norm — under a DSSIM hinge penalty
`const · max(DSSIM − th, 0)²`, in tanh space with Adadelta, one budget per mode. The
perturbation lives on the photo itself, over the region the chips read (no other pixel gets a
gradient), and reaches the extractor through the differentiable alignment, so "computed on the
aligned face, then warped back into the photo" is a single step, without a lossy resize of the cloak.

`extractor` may name an ensemble, `[dlib-resnet+mobilefacenet]`: the face is detected once,
each model cuts its own chip, and the objective is the sum of each model's term, each
normalised by that model's own source embedding as Fawkes normalises its one. The mode's DSSIM
budget is measured on the first model's chip, as Fawkes measures it; `budget=lpips:L` (or `dssim:D`)
replaces it by a bound on the whole photo as saved, the cost every report states, so that a single
model and an ensemble are held to the same visibility (the mode still sets steps and learning rate).
"""

from __future__ import annotations

import numpy as np
import torch

from audit.cloakers.budget import Budget
from audit.cloakers.feature_space import FeatureSpaceCloak, chip_footprint, seeded_noise, with_region
from audit.extractors import ExtractorEnsemble
from audit.face.detection import FaceDetector
from audit.perceptual import SsimTo, hinge_excess

# mode: (DSSIM budget th, max steps, learning rate), Fawkes v1.0.2
MODES = {"low": (0.004, 40, 25.0), "mid": (0.012, 75, 20.0), "high": (0.017, 150, 15.0)}
TANH_SCALE = 2 - 1e-6  # keeps arctanh finite at pixel values 0 and 255 (as Fawkes does)
PENALTY = 1e6  # weight of the squared DSSIM excess (Fawkes's initial constant)
START_NOISE = 1e-3  # in tanh space: about 0.06 grey levels


def to_tanh_space(pixels: torch.Tensor) -> torch.Tensor:
    return torch.atanh((pixels / 255.0 - 0.5) * TANH_SCALE)


def from_tanh_space(w: torch.Tensor) -> torch.Tensor:
    return (torch.tanh(w) / TANH_SCALE + 0.5) * 255.0


class FawkesCloak(FeatureSpaceCloak):
    """Fawkes v1.0 cloak against `extractor`, one model or `a+b` (white-box when the tracker uses one of them).

    `max_change` clips each pixel's change (in grey levels; 255 = unclipped beyond the valid
    pixel range). `budget` bounds the photo's cost instead of the mode's chip DSSIM (a hinge in the
    objective, then the saved photo checked: see `audit.cloakers.budget`). `device=auto` optimises on
    a GPU when torch sees one (the cloak is the same
    computation; only float rounding differs). The iterate kept for each photo is the one that
    scores best (v1.0: moves its embedding the farthest) while its face stays within the DSSIM budget.
    """

    name = "fawkes"
    retired = {"impl": "fawkes is cloak-audit's own Fawkes v1.0; the official command line is the cloaker "
                       "fawkes-official",
               "variant": "the paper's targeted v0.3 cloak is the cloaker fawkes-v0.3"}

    def __init__(self, mode: str = "low", extractor: str | ExtractorEnsemble = "dlib-resnet",
                 face_detector: str | FaceDetector = "mtcnn", th: float | None = None, max_step: int | None = None,
                 lr: float | None = None, max_change: float = 255.0, budget: str | Budget | None = None,
                 batch_size: int = 32, device: str = "auto", output_format: str = "png", quality: int = 95) -> None:
        """mode: low, mid or high: Fawkes v1.0's DSSIM threshold on the chip, steps and learning rate
        th: the chip DSSIM threshold instead of the mode's, in (0, 0.5)
        max_step: optimisation steps instead of the mode's
        lr: Adadelta's learning rate instead of the mode's
        max_change: the most any pixel may change, in grey levels (255: only the valid range)"""
        super().__init__(extractor, face_detector, batch_size, device, output_format, quality, budget)
        if mode not in MODES:
            raise ValueError(f"fawkes: mode={mode!r}; choose {', '.join(MODES)}")
        if (th is not None and not 0 < th < 0.5) or (max_step is not None and max_step < 1) or \
                (lr is not None and lr <= 0) or not 0 < max_change <= 255:
            raise ValueError("fawkes: th must lie in (0, 0.5), max_step be at least 1, lr positive, "
                             "max_change in (0, 255]")
        self.mode = mode
        self.th = th
        self.max_step = max_step
        self.lr = lr
        self.max_change = max_change

    @property
    def settings(self) -> tuple[float, int, float]:
        """(chip DSSIM threshold, steps, learning rate): the mode's, unless set one by one."""
        default_th, default_steps, default_lr = MODES[self.mode]
        return (default_th if self.th is None else self.th, default_steps if self.max_step is None else self.max_step,
                default_lr if self.lr is None else self.lr)

    def face_targets(self, n_faces: int) -> list[np.ndarray] | None:
        """Per model, embeddings to pull each face towards; none for v1.0, which only pushes faces away."""
        return None

    def objective(self, embeddings: torch.Tensor, source: torch.Tensor,
                  targets: torch.Tensor | None) -> torch.Tensor:
        """What the optimiser maximises per face: v1.0's distance from the face's own embedding."""
        return (embeddings - source).norm(dim=1) / source.norm(dim=1)

    def optimise(self, photos: np.ndarray, matrices: list[np.ndarray], keys: list[str],
                 targets: list[np.ndarray] | None = None) -> np.ndarray:
        """Cloak same-sized N×H×W×3 uint8 photos whose faces map to each model's chips by N×2×3 matrices.

        Each photo starts from a tiny perturbation seeded by its key (the feature distance has
        no gradient at zero), so its cloak never depends on which photos share its batch.
        """
        th, steps, lr = self.settings
        device = self.torch_device
        models, original, clean_chips, sources = self.start_batch(photos, matrices)
        anchors = [None] * len(models) if targets is None else [torch.from_numpy(t).float().to(device) for t in targets]
        rows, cols = chip_footprint(models, *original.shape[2:])
        face = original[:, :, rows, cols]  # pixels elsewhere get no gradient and stay as they are
        # drawn for the whole photo and cut, so that each pixel starts where it would without the cut
        start = seeded_noise(keys, original.shape[1:]).to(device)[:, :, rows, cols]
        # tanh space keeps every iterate a valid image; measuring the change against the clean
        # point's own round trip keeps pixels the optimiser leaves alone exactly as they were
        clean_w = to_tanh_space(face.clamp(0.5, 254.5))
        round_trip = from_tanh_space(clean_w)
        w = (clean_w + START_NOISE * start).requires_grad_(True)
        optimiser = torch.optim.Adadelta([w], lr=lr)
        best = face.clone()
        best_score = torch.full((len(photos),), -torch.inf, device=device)
        photo_budget = self.budget
        if photo_budget is None:  # the mode's own: DSSIM on the first model's chip
            chip_dssim, limit = SsimTo(clean_chips).dssim, th
        else:
            photo_cost, limit = photo_budget.on_batch(original), photo_budget.limit
        for _ in range(steps):
            changed = self._clip_change((face + from_tanh_space(w) - round_trip).clamp(0, 255), face)
            pixels = with_region(original, changed, rows, cols)
            chips = [model.chips(pixels) for model in models]
            score = sum(self.objective(model.module(c), source, anchor)
                        for model, c, source, anchor in zip(models, chips, sources, anchors))
            if photo_budget is None:
                excess = hinge_excess(lambda index: chip_dssim(chips[0][index], index), limit)
            else:
                excess = hinge_excess(lambda index: photo_cost(pixels[index], index), limit)
            loss = (PENALTY * excess**2 - score).sum()
            optimiser.zero_grad()
            loss.backward()
            with torch.no_grad():
                better = (excess <= 0) & (score > best_score)
                best[better] = changed[better].detach()
                best_score = torch.where(better, score.detach(), best_score)
            optimiser.step()
        return self.finish_batch(with_region(original, best, rows, cols))

    def _clip_change(self, pixels: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        if self.max_change >= 255:
            return pixels
        return original + (pixels - original).clamp(-self.max_change, self.max_change)
