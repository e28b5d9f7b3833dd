"""LowKey and the built-in cloaks' ensembles, on real LFW photos and the real models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.cloakers import build_cloaker
from audit.cloakers.lowkey import LowKeyCloak, face_dssim, face_windows, gaussian_smoothing
from audit.costs import measured_cost
from audit.embedding.pipeline import FacePipeline
from audit.extractors import load_extractor
from audit.images import read_image
from audit.perceptual import dssim, perceptual_cost


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


def test_face_windows_box_the_chip_and_face_dssim_reads_only_them():
    # a 20-px chip scaled by 2 and shifted to (30, 10): the box spans x 30–68, y 10–48
    chip_to_photo = torch.tensor([[[2.0, 0, 30], [0, 2.0, 10]]])
    windows = face_windows(chip_to_photo, 20, 80, 100)[0]
    assert windows.shape == (70, 90)
    ys, xs = torch.nonzero(windows, as_tuple=True)
    assert (ys.min() + 5, ys.max() + 5, xs.min() + 5, xs.max() + 5) == (10, 48, 30, 68)  # window centres
    photo = torch.rand(1, 3, 80, 100) * 255
    outside = photo.clone()
    outside[..., :, 80:] = 0  # changed only right of the face box (windows there start at x 75)
    assert face_dssim(outside, photo, windows[None]).item() == pytest.approx(0, abs=1e-6)
    assert dssim(outside, photo).item() > 0.01
    inside = photo.clone()
    inside[..., 20:40, 40:60] = 0
    assert face_dssim(inside, photo, windows[None]).item() > dssim(inside, photo).item() > 0


def lpips_of(result: dict) -> list[float]:
    return [measured_cost(read_image(o), read_image(c)).lpips for o, c in result.items()]


def test_lowkey_runs_the_public_codes_objective_and_moves_every_model_it_saw(photos, tmp_path):
    lowkey = build_cloaker("lowkey")
    assert isinstance(lowkey, LowKeyCloak)
    assert (lowkey.perceptual, lowkey.weight, lowkey.steps, lowkey.smoothed) == ("lpips", 0.05, 50, True)
    assert lowkey.step_size == pytest.approx(0.0025 * 255)
    assert lowkey.cloak_extractors == ["dlib-resnet", "mobilefacenet"]
    assert "substitution" not in lowkey.check([], [])  # LPIPS itself, no stand-in
    cloaked = lowkey.cloak(photos, tmp_path / "lowkey")
    costs = lpips_of(cloaked)
    noisy = build_cloaker(f"noise:budget=lpips:{max(costs):.5f}").cloak(photos, tmp_path / "noise")
    for model in lowkey.cloak_extractors:
        assert (moved(model, cloaked) > 2 * moved(model, noisy)).all(), model
    # the LPIPS penalty is what keeps LPIPS down: without it the same steps cost more
    unpenalised = build_cloaker("lowkey:weight=0").cloak(photos, tmp_path / "unpenalised")
    assert np.mean(lpips_of(unpenalised)) > np.mean(costs)


def test_the_feature_term_is_the_codes_mean_over_dimensions_views_and_models(photos):
    lowkey = build_cloaker("lowkey")
    image = read_image(photos[0])
    [matrices] = lowkey.chip_matrices([image])
    models, original, _, sources = lowkey.start_batch(image[None], [m[None] for m in matrices])
    clean = [torch.nn.functional.normalize(s, dim=1) for s in sources]
    changed = original + 20 * torch.randn(original.shape, generator=torch.Generator().manual_seed(0))
    by_hand = []
    for model, target in zip(models, clean):
        for view in (changed, gaussian_smoothing(changed)):
            embedding = model.module(model.chips(view))
            by_hand.append(float(((embedding / embedding.norm() - target) ** 2).mean()))
    with torch.no_grad():
        assert lowkey.features_moved(models, clean, changed).item() == pytest.approx(np.mean(by_hand), rel=1e-5)
        unsmoothed = build_cloaker("lowkey:smoothed=false").features_moved(models, clean, changed).item()
    assert unsmoothed == pytest.approx(np.mean(by_hand[::2]), rel=1e-5)


def test_lowkey_honours_a_photo_budget_and_its_dssim_stand_in(photos, tmp_path):
    bounded = build_cloaker("lowkey:weight=0,budget=lpips:0.01")
    assert max(lpips_of(bounded.cloak(photos, tmp_path / "bounded"))) <= 0.01
    stand_in = build_cloaker("lowkey:perceptual=dssim")
    assert "LPIPS" in stand_in.check([], [])["substitution"]
    cloaked = stand_in.cloak(photos, tmp_path / "dssim")
    # the hinge holds over the face boxes, where the sign steps' noise counts in full
    assert max(perceptual_cost(read_image(o), read_image(c)).dssim for o, c in cloaked.items()) <= 0.017 + 0.002
    with pytest.raises(ValueError, match="perceptual='ssim'; choose lpips, dssim"):
        build_cloaker("lowkey:perceptual=ssim")


def test_fawkes_against_an_ensemble_moves_both_models(photos, tmp_path):
    fawkes = build_cloaker("fawkes:mode=high,max_step=8,extractor=[dlib-resnet+mobilefacenet]")
    assert fawkes.cloak_extractors == ["dlib-resnet", "mobilefacenet"]
    assert build_cloaker(fawkes.spec).cache_id == fawkes.cache_id  # the ensemble survives the spec round trip
    cloaked = fawkes.cloak(photos, tmp_path / "ensemble")
    single = build_cloaker("fawkes:mode=high,max_step=8").cloak(photos, tmp_path / "dlib")
    # the dlib-only cloak barely moves MobileFaceNet; the ensemble's moves it more
    assert moved("mobilefacenet", cloaked).mean() > moved("mobilefacenet", single).mean()
    assert (moved("dlib-resnet", cloaked) > 0.05).all()


def test_an_ensemble_that_names_a_model_twice_or_nothing_is_an_error():
    with pytest.raises(ValueError, match="names a model twice"):
        build_cloaker("lowkey:extractor=[dlib-resnet+dlib-resnet]")
    with pytest.raises(ValueError, match="empty member"):
        build_cloaker("fawkes:extractor=[dlib-resnet+]")
    with pytest.raises(ValueError, match="unknown extractor 'nope'"):
        build_cloaker("lowkey:extractor=[dlib-resnet+nope]")
