import math

import numpy as np
import pytest
import torch

from audit.metrics import SsimTo, clustered_rate, dssim, hinge_excess, perceptual_cost, ssim, wilson


def test_wilson_interval_known_values():
    # 0 of 10: the Wilson upper bound is z²/(n+z²) = 0.2775, not 0 as the normal interval says
    none = wilson(0, 10)
    assert none.rate == 0 and none.ci95[0] == 0 and none.ci95[1] == pytest.approx(0.2775, abs=1e-4)
    half = wilson(50, 100)
    assert half.ci95 == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert math.isnan(wilson(0, 0).rate)
    # the bounds at 0% and 100% are exact, not 3e-18 from rounding (seen at n=89)
    assert wilson(0, 89).ci95[0] == 0.0 and wilson(89, 89).ci95[1] == 1.0


def test_clustered_rate_at_zero_is_an_interval_not_a_point():
    # 3 users, 0 of 22 photos hidden: a bootstrap over users printed [0.0, 0.0]
    pooled = clustered_rate([0, 0, 0], [7, 7, 8])
    assert pooled.rate == 0 and pooled.ci95[0] == 0
    assert pooled.ci95[1] == pytest.approx(1 - 0.025 ** (1 / 22), abs=1e-6)  # Clopper–Pearson, 0 of 22
    assert clustered_rate([22], [22]).ci95 == (pytest.approx(0.025 ** (1 / 22), abs=1e-6), 1.0)
    assert math.isnan(clustered_rate([], []).rate)


def test_clustered_rate_is_wider_when_users_disagree_or_are_few():
    agree = clustered_rate([5, 5, 5, 5], [10, 10, 10, 10])
    disagree = clustered_rate([0, 10, 0, 10], [10, 10, 10, 10])
    assert agree.rate == disagree.rate == 0.5
    assert agree.ci95[1] - agree.ci95[0] > 0.2  # 4 users agreeing are still 4 users
    assert disagree.ci95[1] - disagree.ci95[0] > agree.ci95[1] - agree.ci95[0] + 0.2
    few, many = clustered_rate([10, 10], [20, 20]), clustered_rate([2] * 10, [4] * 10)
    assert few.ci95[1] - few.ci95[0] > many.ci95[1] - many.ci95[0]


@pytest.mark.parametrize("users", [3, 20])
@pytest.mark.parametrize("spread", [0.0, 0.1], ids=["independent", "clustered"])
def test_clustered_rate_covers_the_true_rate(users, spread):
    """Over synthetic runs with a known rate, the 95% interval holds it at least 93% of the time.

    Each user has 4–24 test photos; with `spread` (the intra-user correlation) each user's own
    rate is drawn from a beta distribution around the true one, as cloaks that suit some
    faces better than others would make it.
    """
    rng = np.random.default_rng(users)
    for rate in (0.0, 0.05, 0.5, 1.0):
        covered = 0
        for _ in range(1000):
            totals = rng.integers(4, 25, users)
            if spread and 0 < rate < 1:
                per_user = rng.beta(rate * (1 - spread) / spread, (1 - rate) * (1 - spread) / spread, users)
            else:
                per_user = np.full(users, rate)
            low, high = clustered_rate(rng.binomial(totals, per_user).tolist(), totals.tolist()).ci95
            covered += low <= rate <= high
        assert covered / 1000 >= 0.93, f"rate {rate}: covered {covered / 10:.1f}%"


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
