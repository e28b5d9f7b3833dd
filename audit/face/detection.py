"""Face detectors that return boxes with five landmarks, and the choice of one face per photo."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from audit.images import PhotoSkipped
from audit.options import parse_spec
from audit.plugins import Plugin, build_registered, registered, registry


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in photo pixels
    score: float
    landmarks: np.ndarray  # 5×2, photo pixels, in the detector's landmark scheme

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


class FaceDetector(Plugin, ABC):
    """A face detector plugin: constructing it checks its options; the model loads on first use."""

    landmark_scheme: ClassVar[str]

    def to(self, device: torch.device) -> "FaceDetector":
        """Detect on `device` from now on (the pipeline that owns the detector decides); a detector that only
        runs on the CPU ignores it."""
        return self

    def detect(self, image: np.ndarray) -> list[Face]:
        """The faces in an H×W×3 uint8 photo; a photo too small to search is a recorded skip."""
        found = self.detect_many([image])[0]
        if isinstance(found, PhotoSkipped):
            raise found
        return found

    def detect_many(self, images: list[np.ndarray]) -> list[list[Face] | PhotoSkipped]:
        """Each photo's faces, or the skip that says why it could not be searched."""
        results: list[list[Face] | PhotoSkipped] = []
        searchable = []
        for image in images:
            height, width = image.shape[:2]
            if min(height, width) < self.smallest_side:
                results.append(PhotoSkipped(f"too small for the face detector: {width}×{height} ({self.name} needs "
                                            f"at least {self.smallest_side} px on the shorter side)"))
            else:
                results.append([])
                searchable.append(len(results) - 1)
        for index, faces in zip(searchable, self.find_many([np.ascontiguousarray(images[i]) for i in searchable])):
            results[index] = faces
        return results

    @property
    def smallest_side(self) -> int:
        """The shortest side (pixels) a photo needs for the detector to search it at all."""
        return 1

    def find_many(self, images: list[np.ndarray]) -> list[list[Face]]:
        """The faces in each photo; a detector that gains from batching photos overrides this."""
        return [self.find_faces(image) for image in images]

    @abstractmethod
    def find_faces(self, image: np.ndarray) -> list[Face]: ...


class MtcnnDetector(FaceDetector):
    """MTCNN with facenet-pytorch's weights (they ship in its wheel): eye centres, nose tip, mouth corners."""

    name = "mtcnn"
    landmark_scheme = "mtcnn"
    revision = 2  # batched stages (audit.face.mtcnn): boxes within 1e-4 px of facenet-pytorch's own loop
    THRESHOLDS = (0.6, 0.7, 0.7)  # facenet-pytorch's defaults for its three stages
    BATCH_PHOTOS = 32  # photos of one size per pass: the fastest on 2 cores for LFW's 250×250 (16: 0.87x, 64: 0.92x)
    BATCH_PIXELS = 4_000_000  # and no more pixels than this, so large photos go one by one

    def __init__(self, min_face_size: int = 20) -> None:
        """min_face_size: the smallest face searched for, in pixels (at least 12, MTCNN's window)"""
        if min_face_size < 12:
            raise ValueError(f"mtcnn: min_face_size={min_face_size} must be at least 12 (MTCNN's window)")
        self.min_face_size = min_face_size
        self._mtcnn = None
        self._device = torch.device("cpu")

    def to(self, device: torch.device) -> "MtcnnDetector":
        self._device = device
        if self._mtcnn is not None:
            self._mtcnn.to(device)
        return self

    @property
    def smallest_side(self) -> int:
        # MTCNN's image pyramid starts at scale 12/min_face_size and needs 12 px at that scale:
        # a shorter side leaves the pyramid empty and facenet-pytorch fails instead of finding nothing.
        return self.min_face_size

    def find_faces(self, image: np.ndarray) -> list[Face]:
        return self.find_many([image])[0]

    def find_many(self, images: list[np.ndarray]) -> list[list[Face]]:
        if self._mtcnn is None:
            from audit.face.mtcnn import BatchedMtcnn

            self._mtcnn = BatchedMtcnn(self.min_face_size, self.THRESHOLDS, self._device)
        found: list[list[Face]] = [[] for _ in images]
        for batch in same_size_batches(images, self.BATCH_PHOTOS, self.BATCH_PIXELS):
            for index, (boxes, points) in zip(batch, self._mtcnn.detect(np.stack([images[i] for i in batch]))):
                found[index] = [Face(tuple(float(v) for v in box[:4]), float(box[4]), landmarks.astype(np.float64))
                                for box, landmarks in zip(boxes, points)]
        return found


def same_shape(images: list[np.ndarray], indices: Iterable[int]) -> list[list[int]]:
    """`indices` grouped by the shape of their photo (photos of one shape batch together), in order."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index in indices:
        groups.setdefault(images[index].shape, []).append(index)
    return list(groups.values())


def same_size_batches(images: list[np.ndarray], most_photos: int, most_pixels: int) -> list[list[int]]:
    """Indices of `images` grouped by shape, each group cut to at most `most_photos` and `most_pixels`."""
    batches = []
    for indices in same_shape(images, range(len(images))):
        height, width = images[indices[0]].shape[:2]
        per_batch = max(1, min(most_photos, most_pixels // (height * width)))
        batches += [indices[start : start + per_batch] for start in range(0, len(indices), per_batch)]
    return batches


class DlibHogDetector(FaceDetector):
    """dlib's HOG detector with `shape_predictor_5_face_landmarks` (needs the `dlib` extra)."""

    name = "dlib-hog"
    landmark_scheme = "dlib5"

    def __init__(self, upsample: int = 1) -> None:
        """upsample: times the photo is doubled in size before searching, 0–3 (finds smaller faces, slower)"""
        if importlib.util.find_spec("dlib") is None:
            raise RuntimeError("the dlib-hog face detector needs dlib: pip install 'cloak-audit[dlib]'")
        if not 0 <= upsample <= 3:
            raise ValueError(f"dlib-hog: upsample={upsample} must lie in 0..3")
        self.upsample = upsample
        self._models = None

    def find_faces(self, image: np.ndarray) -> list[Face]:
        if self._models is None:
            import dlib

            self._models = (dlib.get_frontal_face_detector(),
                            dlib.shape_predictor(str(face_model_path("shape_predictor_5_face_landmarks.dat"))))
        detector, predictor = self._models
        rects, scores, _ = detector.run(image, self.upsample)
        faces = []
        for rect, score in zip(rects, scores):
            shape = predictor(image, rect)
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            faces.append(Face((rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1), float(score), points))
        return faces


BUILT_IN: dict[str, type[FaceDetector]] = registry(MtcnnDetector, DlibHogDetector)


def build_face_detector(spec_text: str) -> FaceDetector:
    """`mtcnn`, `mtcnn:min_face_size=40`, `dlib-hog:upsample=0`; checks options, loads no model."""
    return build_registered(registered("face detector"), parse_spec(spec_text), "face detector")


def face_model_path(name: str) -> Path:
    """A model file shipped by `face_recognition_models`, found without pkg_resources."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError("face_recognition_models is not installed: pip install face_recognition_models")
    path = Path(spec.origin).parent / "models" / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing from face_recognition_models")
    return path


SUBJECT_MIN_AREA = 1 / 3
"""A face at least this share of the largest face's area may be the photo's subject.

Bystanders are usually much smaller than the subject, but a subject framed in the centre is
often a little smaller than a neighbour at the edge: on LFW folds 1-2 (MTCNN + dlib-resnet),
"largest only" verifies at 97.1%, "largest within 10%, then central" at 97.1%, and "at least a
third of the largest, then central" at 98.9%.
"""
PICK_RULE_ID = "pick(area>=1/3,central)"


def pick_face(faces: list[Face], image_shape: tuple[int, ...]) -> Face | None:
    """The photo's subject: among faces at least a third of the largest's area, the most central."""
    if not faces:
        return None
    largest = max(face.area for face in faces)
    candidates = [face for face in faces if face.area >= SUBJECT_MIN_AREA * largest]
    centre = np.array([image_shape[1] / 2, image_shape[0] / 2])

    def distance(face: Face) -> float:
        x1, y1, x2, y2 = face.box
        return float(np.linalg.norm(np.array([(x1 + x2) / 2, (y1 + y2) / 2]) - centre))

    return min(candidates, key=distance)
