"""Results pooled over seeds: users counted once, and the spread over seeds."""

import pytest
from scipy import stats

from audit.pooling import over_seeds, pool_seeds
from audit.statistics import clustered_rate
from tests.builders import cell, rate, user_row


def result(seed: int, rows: list[tuple[str, int, int]], accuracy: float = 1.0):
    """A cell of one seed: rows of (user, hidden, n_test); the control hides nobody."""
    return cell(rows=tuple(user_row(u, n, h) for u, h, n in rows), seed=seed, normal_accuracy=rate(accuracy, 0, 1))


def test_a_user_drawn_by_two_seeds_is_one_cluster():
    results = [result(0, [("Ann", 4, 4), ("Bob", 0, 4)], 0.9), result(1, [("Ann", 2, 4), ("Cy", 1, 4)], 0.8)]
    [pooled] = pool_seeds(results)
    assert pooled.seeds == (0, 1)
    protection = pooled.protection
    assert protection.rate == pytest.approx(7 / 16) and protection.n_users == 3 and protection.n_photos == 16
    assert protection.ci95 == pytest.approx(clustered_rate([6, 0, 1], [8, 4, 4]).ci95)
    assert protection.over_seeds.mean == pytest.approx((0.5 + 3 / 8) / 2)
    assert pooled.control.rate == 0.0 and pooled.control.ci95[1] > 0  # never a point at 0
    assert pooled.normal_accuracy.mean == pytest.approx(0.85)


def test_a_single_seed_pools_nothing():
    assert pool_seeds([result(0, [("Ann", 1, 2)])]) == ()


def test_over_seeds_is_students_t_within_the_unit_interval():
    rates = [0.2, 0.4, 0.9]
    record = over_seeds(rates)
    half = stats.t.ppf(0.975, 2) * stats.tstd(rates) / 3**0.5
    assert record.mean == pytest.approx(0.5)
    assert record.ci95 == pytest.approx((max(0.0, 0.5 - half), min(1.0, 0.5 + half)))
    assert record.ci95[0] == 0.0 and record.n_seeds == 3
    assert over_seeds([float("nan"), 0.5]).n_seeds == 1
