"""What the built-in cloaks share: one face detection per photo, every model of an ensemble
cutting its own chip from it, and photos optimised in batches through the differentiable
alignment (the perturbation lives on the photo, not on a resampled chip)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from audit.cloakers.base import ImageCloaker
from audit.cloakers.budget import Budget
from audit.devices import check_device, torch_device
from audit.embedding.pipeline import NO_FACE, FacePipeline
from audit.extractors import Extractor, ExtractorEnsemble
from audit.face.align import warp_chips
from audit.face.detection import FaceDetector
from audit.images import PhotoSkipped
from audit.plugins import Nested


@dataclass
class FrozenModel:
    """One model of the ensemble during an optimisation: its module (weights frozen, on the
    optimising device) and where each photo's face lies in its chip."""

    module: torch.nn.Module
    theta: torch.Tensor  # N×2×3 chip→photo
    size: int

    @classmethod
    def of(cls, extractor: Extractor, matrices: np.ndarray, device: torch.device) -> "FrozenModel":
        module = extractor.module.eval().to(device, memory_format=extractor.memory_format)
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        return cls(module, torch.from_numpy(matrices).float().to(device), extractor.input_size)

    def chips(self, photos: torch.Tensor) -> torch.Tensor:
        return warp_chips(photos, self.theta, self.size)


def chip_footprint(models: list[FrozenModel], height: int, width: int) -> tuple[slice, slice]:
    """The rows and columns of a batch's photos that any model's chip reads (its corners mapped into
    the photo, with a pixel to spare for bilinear reads and rounding): a loss on the chips has no
    gradient anywhere else, so an optimiser need only carry this region."""
    points = []
    for model in models:
        edge = model.size - 1
        corners = model.theta.new_tensor([[0, 0, 1], [edge, 0, 1], [0, edge, 1], [edge, edge, 1]]).T
        points.append((model.theta @ corners).floor())  # N×(x, y)×4 corners
    x, y = torch.cat(points, dim=2).unbind(1)

    def span(at: torch.Tensor, extent: int) -> slice:
        return slice(max(0, int(at.min()) - 1), min(extent, int(at.max()) + 3))

    return span(y, height), span(x, width)


def with_region(photos: torch.Tensor, region: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    """The photos (N×C×H×W) with `region` in place of their pixels at rows × cols (differentiable)."""
    pasted = photos.clone()
    pasted[:, :, rows, cols] = region
    return pasted


def seeded_noise(keys: list[str], shape: torch.Size, draw=torch.randn) -> torch.Tensor:
    """One draw per photo, seeded by the photo's key: a photo's cloak never depends on its batch."""
    return torch.stack([draw(shape, generator=torch.Generator().manual_seed(int(key[:15], 16))) for key in keys])


class FeatureSpaceCloak(ImageCloaker):
    """A cloak optimised in the feature space of `extractor`: one model, or an ensemble `a+b`
    (written `[a+b]` inside a spec). `device=auto` optimises on a GPU when torch sees one."""

    renamed = {"detector": "face_detector"}
    extractor = Nested(ExtractorEnsemble.parse)
    face_detector = Nested("face detector")

    def __init__(self, extractor: str | ExtractorEnsemble = "dlib-resnet", face_detector: str | FaceDetector = "mtcnn",
                 batch_size: int = 32, device: str = "auto", output_format: str = "png", quality: int = 95,
                 budget: str | Budget | None = None) -> None:
        """extractor: the model the cloak is optimised against, or an ensemble a+b (written [a+b] inside a spec)
        face_detector: the detector whose face every model cuts its chip from (mtcnn, dlib-hog)
        batch_size: photos of one size optimised together
        device: where it optimises: auto (a GPU when torch sees one), cpu, cuda or cuda:N"""
        super().__init__(output_format, quality, budget)
        if batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be at least 1")
        check_device(self.name, device)
        self.extractor = extractor
        self.face_detector = face_detector
        self.batch_size = batch_size
        self.device = device
        self._pipelines: list[FacePipeline] | None = None

    @property
    def torch_device(self) -> torch.device:
        return torch_device(self.device)

    @property
    def cloak_extractors(self) -> list[str]:
        return self.extractor.model_ids

    @property
    def pipelines(self) -> list[FacePipeline]:
        """One face pipeline per model of the ensemble (models load on first use), all on one face detector."""
        if self._pipelines is None:
            self._pipelines = [FacePipeline(spec.load(), face_detector=self.face_detector, device=self.device)
                               for spec in self.extractor.members]
        return self._pipelines

    def chip_matrices(self, images: list[np.ndarray]) -> list[list[np.ndarray] | PhotoSkipped]:
        """Per photo, each model's chip→photo matrix for the face detected in it (all photos detected
        in batches), or why the photo is skipped."""
        found: list[list[np.ndarray] | PhotoSkipped] = []
        for face in self.pipelines[0].faces(images):
            if face is None:
                face = PhotoSkipped(NO_FACE)
            found.append(face if isinstance(face, PhotoSkipped) else
                         [p.alignment.matrix(face, p.extractor.input_size) for p in self.pipelines])
        return found

    def face_targets(self, n_faces: int) -> list[np.ndarray] | None:
        """Per model, embeddings to pull each face towards (a targeted cloak); None for untargeted ones."""
        return None

    def start_batch(self, photos: np.ndarray, matrices: list[np.ndarray]
                    ) -> tuple[list[FrozenModel], torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """What an optimisation starts from: the frozen models, the photos (N×3×H×W float on the
        device), the first model's clean chips (the DSSIM budget's reference) and every model's
        clean embeddings."""
        models = [FrozenModel.of(p.extractor, m, self.torch_device) for p, m in zip(self.pipelines, matrices)]
        original = torch.from_numpy(photos).permute(0, 3, 1, 2).float().to(self.torch_device)
        with torch.no_grad():
            clean_chips = [model.chips(original) for model in models]
            return models, original, clean_chips[0], [model.module(c) for model, c in zip(models, clean_chips)]

    @staticmethod
    def finish_batch(best: torch.Tensor) -> np.ndarray:
        """The kept iterates as N×H×W×3 uint8 photos."""
        return best.round().clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()

    @abstractmethod
    def optimise(self, photos: np.ndarray, matrices: list[np.ndarray], keys: list[str],
                 targets: list[np.ndarray] | None = None) -> np.ndarray:
        """Cloak same-sized N×H×W×3 uint8 photos whose faces map to each model's chips by N×2×3 matrices."""

    def cloak_images(self, images: list[np.ndarray], keys: list[str]) -> list[np.ndarray | str]:
        targets = self.face_targets(len(images))
        results: list[np.ndarray | str] = [""] * len(images)
        by_shape: dict[tuple[int, ...], list[tuple[int, list[np.ndarray]]]] = {}
        for index, (image, matrices) in enumerate(zip(images, self.chip_matrices(images))):
            if isinstance(matrices, PhotoSkipped):
                results[index] = matrices.reason
            else:
                by_shape.setdefault(image.shape, []).append((index, matrices))
        for group in by_shape.values():
            for start in range(0, len(group), self.batch_size):
                batch = group[start : start + self.batch_size]
                chosen = [i for i, _ in batch]
                cloaked = self.optimise(np.stack([images[i] for i in chosen]),
                                        [np.stack([m[k] for _, m in batch]) for k in range(len(self.pipelines))],
                                        [keys[i] for i in chosen],
                                        None if targets is None else [t[chosen] for t in targets])
                for (index, _), photo in zip(batch, cloaked):
                    results[index] = photo
        return results
