import math

import numpy as np
import pytest

from audit.statistics import clustered_rate, wilson


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
