"""LowKey and the built-in cloaks' ensembles, on real LFW photos and the real models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.cloakers import build_cloaker
from audit.cloakers.lowkey import gaussian_smoothing
from audit.extractors import load_extractor
from audit.face.pipeline import FacePipeline
from audit.images import read_image
from audit.metrics import perceptual_cost


@pytest.fixture
def photos(small_lfw):
    return sorted(small_lfw.glob("*/*.jpg"))[:2]


def moved(model: str, result: dict) -> np.ndarray:
    """How far each photo's embedding moved under `model` (unit-length for the modern models)."""
    pipeline = FacePipeline(load_extractor(model))
    clean = pipeline.embed_files(list(result), progress=False).embeddings
    after = pipeline.embed_files(list(result.values()), progress=False).embeddings
    return np.linalg.norm(clean - after, axis=1)


def test_smoothing_is_lowkeys_gaussian():
    flat = torch.full((1, 3, 20, 30), 100.0)
    assert torch.allclose(gaussian_smoothing(flat), flat)  # weights sum to 1, reflect padding keeps the edges
    spike = torch.zeros(1, 1, 15, 15)
    spike[0, 0, 7, 7] = 1
    kernel = gaussian_smoothing(spike)[0, 0, 4:11, 4:11]
    line = torch.exp(-torch.arange(-3.0, 4.0) ** 2 / 18)
    assert torch.allclose(kernel, torch.outer(line, line) / line.sum() ** 2, atol=1e-7)  # 7×7, σ = 3


def test_lowkey_moves_every_model_it_saw_within_its_dssim_budget(photos, tmp_path):
    lowkey = build_cloaker("lowkey:steps=8")
    assert lowkey.cloak_extractors == ["dlib-resnet", "mobilefacenet"]
    assert "LPIPS" in lowkey.check([], [])["substitution"]
    cloaked = lowkey.cloak(photos, tmp_path / "lowkey")
    cost = np.mean([perceptual_cost(read_image(o), read_image(c)).dssim for o, c in cloaked.items()])
    noisy = build_cloaker(f"noise:dssim={cost:.5f}").cloak(photos, tmp_path / "noise")
    for model in lowkey.cloak_extractors:
        assert (moved(model, cloaked) > 2 * moved(model, noisy)).all(), model
    for original, copy in cloaked.items():
        assert perceptual_cost(read_image(original), read_image(copy)).dssim <= lowkey.dssim + 0.002


def test_fawkes_against_an_ensemble_moves_both_models(photos, tmp_path):
    fawkes = build_cloaker("fawkes:impl=builtin,mode=high,max_step=8,extractor=[dlib-resnet+mobilefacenet]")
    assert fawkes.cloak_extractors == ["dlib-resnet", "mobilefacenet"]
    assert build_cloaker(fawkes.spec).params() == fawkes.params()  # the ensemble survives the spec round trip
    cloaked = fawkes.cloak(photos, tmp_path / "ensemble")
    single = build_cloaker("fawkes:impl=builtin,mode=high,max_step=8").cloak(photos, tmp_path / "dlib")
    # the dlib-only cloak barely moves MobileFaceNet; the ensemble's moves it more
    assert moved("mobilefacenet", cloaked).mean() > moved("mobilefacenet", single).mean()
    assert (moved("dlib-resnet", cloaked) > 0.05).all()


def test_an_ensemble_that_names_a_model_twice_or_nothing_is_an_error():
    with pytest.raises(ValueError, match="names a model twice"):
        build_cloaker("lowkey:extractor=[dlib-resnet+dlib-resnet]")
    with pytest.raises(ValueError, match="empty member"):
        build_cloaker("fawkes:impl=builtin,extractor=[dlib-resnet+]")
    with pytest.raises(ValueError, match="unknown extractor 'nope'"):
        build_cloaker("lowkey:extractor=[dlib-resnet+nope]")
