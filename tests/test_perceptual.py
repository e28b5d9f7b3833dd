import math

import numpy as np
import pytest
import torch

from audit.perceptual import SsimTo, dssim, hinge_excess, perceptual_cost, ssim


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


def test_hinge_excess_has_the_value_and_gradient_of_the_plain_hinge():
    """Measured again with a gradient only for images over the budget, the hinge is still max(DSSIM − b, 0)."""
    torch.manual_seed(0)
    reference = torch.rand(6, 3, 24, 24) * 255
    noise = torch.randn_like(reference) * torch.tensor([0.5, 30, 1, 40, 0.2, 25]).view(-1, 1, 1, 1)
    images = (reference + noise).clamp(0, 255)
    budget = SsimTo(reference)
    threshold = float(budget.dssim(images).median())

    def excess_and_gradient(hinge):
        pixels = images.clone().requires_grad_(True)
        excess = hinge(pixels)
        (excess**2).sum().backward()
        return excess.detach(), pixels.grad

    plain = excess_and_gradient(lambda pixels: torch.relu(budget.dssim(pixels) - threshold))
    split = excess_and_gradient(lambda pixels: hinge_excess(lambda index: budget.dssim(pixels[index], index),
                                                            threshold))
    assert (plain[0] > 0).sum() == 3
    assert torch.allclose(split[0], plain[0], rtol=1e-6, atol=0)
    assert torch.allclose(split[1], plain[1], rtol=1e-5, atol=1e-12)
    assert (split[1][plain[0] == 0] == 0).all() and (split[1][plain[0] > 0] != 0).any()
    within = hinge_excess(lambda index: budget.dssim(images[index], index), 0.49)
    assert (within == 0).all()


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
