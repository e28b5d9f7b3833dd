"""Shared fixtures. Real-data tests read LFW from ../shared/datasets (or $AUDIT_DATA) and never skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lfw_root() -> Path:
    data = Path(os.environ.get("AUDIT_DATA") or REPO.parent / "shared" / "datasets")
    return (data / "lfw").resolve()  # absolute: fixtures link to these photos from temporary folders


def pytest_configure(config: pytest.Config) -> None:
    root = _lfw_root()
    if not (root / "pairs.txt").is_file():
        raise pytest.UsageError(f"LFW is missing at {root}: set AUDIT_DATA to the folder holding lfw/ "
                                "(real-data tests do not skip)")


@pytest.fixture(scope="session")
def lfw_root() -> Path:
    return _lfw_root()


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test session gets its own cache folder, so tests never see a developer's cache."""
    os.environ["AUDIT_CACHE"] = str(tmp_path_factory.mktemp("audit-cache"))
    os.environ.setdefault("AUDIT_DATA", str(_lfw_root().parent))


@pytest.fixture(scope="session")
def dlib_resnet():
    from audit.extractors import load_extractor

    return load_extractor("dlib-resnet")


@pytest.fixture(scope="session")
def mtcnn_pipeline(dlib_resnet):
    from audit.face.pipeline import FacePipeline

    return FacePipeline(dlib_resnet)


@pytest.fixture(scope="session")
def dlib_reference():
    """dlib itself (dlib-bin, a test extra): HOG detector, 5-point predictor, face recognizer."""
    import dlib

    from audit.face.detection import face_model_path

    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(str(face_model_path("shape_predictor_5_face_landmarks.dat"))),
            dlib.face_recognition_model_v1(str(face_model_path("dlib_face_recognition_resnet_model_v1.dat"))))


def lfw_sample(root: Path, n: int, seed: int = 0) -> list[Path]:
    """n LFW photos spread over identities, the same every run."""
    import random

    photos = sorted(root.glob("*/*.jpg"))
    return sorted(random.Random(seed).sample(photos, n))


@pytest.fixture(scope="session")
def small_lfw(lfw_root, tmp_path_factory) -> Path:
    """A real identity-folder dataset: 8 LFW identities with ≥ 30 photos, 12 photos each (links)."""
    root = tmp_path_factory.mktemp("small-lfw")
    folders = sorted(d for d in lfw_root.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 30)[:8]
    for folder in folders:
        (root / folder.name).mkdir()
        for photo in sorted(folder.glob("*.jpg"))[:12]:
            (root / folder.name / photo.name).symlink_to(photo)
    return root
