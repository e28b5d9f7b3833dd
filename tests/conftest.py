"""Shared fixtures. Real-data tests read LFW from ../shared/datasets (or $AUDIT_DATA) and never skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lfw_root() -> Path:
    data = Path(os.environ.get("AUDIT_DATA") or REPO.parent / "shared" / "datasets")
    return (data / "lfw").resolve()  # absolute: fixtures link to these photos from temporary folders


def _models_root() -> Path:
    return Path(os.environ.get("AUDIT_MODELS") or REPO.parent / "shared" / "models").resolve()


def pytest_configure(config: pytest.Config) -> None:
    from audit.devices import reuse_freed_memory

    reuse_freed_memory()  # as `audit` starts: the same speed, and the same process from the first test to the last
    root = _lfw_root()
    if not (root / "pairs.txt").is_file():
        raise pytest.UsageError(f"LFW is missing at {root}: set AUDIT_DATA to the folder holding lfw/ "
                                "(real-data tests do not skip)")
    if not (_models_root() / "mobilefacenet").is_dir():
        raise pytest.UsageError(f"the face models are missing at {_models_root()}: set AUDIT_MODELS to the folder "
                                "holding mobilefacenet/ (../shared/models)")


@pytest.fixture(scope="session")
def lfw_root() -> Path:
    return _lfw_root()


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """Each test session gets its own cache folder and history, so tests never see a developer's; and
    when the session ends, every report.json, verify.json and compare.json any test wrote (in-process or
    from a subprocess, all under the session's temporary folder) must validate against its shipped schema."""
    os.environ["AUDIT_CACHE"] = str(tmp_path_factory.mktemp("audit-cache"))
    os.environ["AUDIT_HISTORY"] = str(tmp_path_factory.mktemp("audit-history") / "history.sqlite")
    os.environ.setdefault("AUDIT_DATA", str(_lfw_root().parent))
    os.environ.setdefault("AUDIT_MODELS", str(_models_root()))
    yield
    invalid = validate_documents(tmp_path_factory.getbasetemp(), SCHEMA_CHECKED)
    assert not invalid, "documents that do not match their schema:\n" + "\n".join(invalid)


SCHEMA_CHECKED: dict[str, int] = {}  # documents validated this session, per file name


def validate_documents(root: Path, counts: dict[str, int]) -> list[str]:
    """Validate every report.json, verify.json and compare.json under root against its schema in the package;
    the failures, one line each."""
    import json

    import jsonschema

    from audit.records import FILE_NAMES, shipped_schema

    invalid = []
    for kind, name in FILE_NAMES.items():
        validator = jsonschema.Draft202012Validator(shipped_schema(kind))
        for path in sorted(root.rglob(name)):
            counts[name] = counts.get(name, 0) + 1
            errors = list(validator.iter_errors(json.loads(path.read_text(encoding="utf-8"))))
            invalid += [f"{path}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:3]]
    return invalid


def pytest_terminal_summary(terminalreporter) -> None:
    if SCHEMA_CHECKED:
        terminalreporter.write_line("documents validated against their schemas: "
                                    + ", ".join(f"{n} {name}" for name, n in SCHEMA_CHECKED.items()))


@pytest.fixture(scope="session")
def models_root() -> Path:
    return _models_root()


@pytest.fixture(scope="session")
def dlib_resnet():
    from audit.extractors import load_extractor

    return load_extractor("dlib-resnet")


@pytest.fixture(scope="session")
def mtcnn_pipeline(dlib_resnet):
    from audit.embedding.pipeline import FacePipeline

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


# Distinctive fake credentials: the secrets test looks for them in every output of a run.
CLOUD_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIACLOAKAUDITFAKEID7",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-CLOAKAUDIT-a1b2c3d4e5",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AZURE_FACE_KEY": "azure-key-CLOAKAUDIT-f6e5d4c3b2",
    "FACEPP_API_KEY": "facepp-key-CLOAKAUDIT-0918273645",
    "FACEPP_API_SECRET": "facepp-secret-CLOAKAUDIT-5647382910",
}


@pytest.fixture
def cloud_credentials(monkeypatch) -> dict[str, str]:
    """Fake credentials in the environment, and no real AWS configuration to fall back on."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AZURE_FACE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in CLOUD_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return CLOUD_CREDENTIALS


@pytest.fixture(scope="session")
def face_matcher(tmp_path_factory):
    from tests.cloud_clients.servers import FaceMatcher

    return FaceMatcher(tmp_path_factory.mktemp("uploads"))


@pytest.fixture
def cloud_service(request, face_matcher, cloud_credentials):
    """The local stand-in for the provider named by the test's parameter, running on loopback."""
    from tests.cloud_clients.servers import SERVICES

    with SERVICES[request.param](face_matcher) as service:
        yield service
