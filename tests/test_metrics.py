import math

import numpy as np
import pytest
import torch

from audit.metrics import bootstrap_over_users, dssim, perceptual_cost, ssim, wilson


def test_wilson_interval_known_values():
    # 0 of 10: the Wilson upper bound is z²/(n+z²) = 0.2775, not 0 as the normal interval says
    none = wilson(0, 10)
    assert none.rate == 0 and none.ci95[0] == 0 and none.ci95[1] == pytest.approx(0.2775, abs=1e-4)
    half = wilson(50, 100)
    assert half.ci95 == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert math.isnan(wilson(0, 0).rate)
    # the bounds at 0% and 100% are exact, not 3e-18 from rounding (seen at n=89)
    assert wilson(0, 89).ci95[0] == 0.0 and wilson(89, 89).ci95[1] == 1.0


def test_bootstrap_over_users_is_wider_when_users_disagree():
    agree = bootstrap_over_users([5, 5, 5, 5], [10, 10, 10, 10], seed=0)
    disagree = bootstrap_over_users([0, 10, 0, 10], [10, 10, 10, 10], seed=0)
    assert agree.rate == disagree.rate == 0.5
    assert agree.ci95 == (0.5, 0.5)
    assert disagree.ci95[1] - disagree.ci95[0] > 0.4
    assert bootstrap_over_users([3, 4], [10, 10], seed=1) == bootstrap_over_users([3, 4], [10, 10], seed=1)


def test_ssim_is_one_on_identical_images_and_falls_with_noise():
    image = torch.rand(1, 3, 40, 40) * 255
    assert ssim(image, image).item() == pytest.approx(1.0, abs=1e-6)
    small = dssim(image, (image + torch.randn_like(image) * 2).clamp(0, 255)).item()
    large = dssim(image, (image + torch.randn_like(image) * 20).clamp(0, 255)).item()
    assert 0 < small < large < 0.5


def test_ssim_matches_a_direct_computation_of_one_window():
    """On an 11×11 image there is a single window: SSIM is the formula on Gaussian-weighted moments."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 255, (11, 11)), rng.uniform(0, 255, (11, 11))
    x = np.arange(11) - 5
    g = np.exp(-(x**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mu_a, mu_b = (w * a).sum(), (w * b).sum()
    var_a, var_b = (w * a * a).sum() - mu_a**2, (w * b * b).sum() - mu_b**2
    cov = (w * a * b).sum() - mu_a * mu_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expected = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    got = ssim(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None]).item()
    assert got == pytest.approx(expected, rel=1e-9)


def test_perceptual_cost():
    original = np.full((20, 20, 3), 100, np.uint8)
    cloaked = original.copy()
    cloaked[0, 0, 0] = 110
    cost = perceptual_cost(original, cloaked)
    assert cost.linf == 10 and cost.l2 == pytest.approx(10 / 255)
    assert cost.psnr == pytest.approx(10 * math.log10(255**2 / (100 / 1200)))
    assert perceptual_cost(original, original).psnr == math.inf
    with pytest.raises(ValueError, match="20×20"):
        perceptual_cost(original, original[:10])
