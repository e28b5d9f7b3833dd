"""Statistics for honest figures: Wilson, exact and clustered (users × photos) intervals for a rate, and the
difference of two rates (a bootstrap over users, Newcombe's MOVER, McNemar's test)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy import special  # the quantile functions scipy.stats calls, without importing scipy.stats (0.8 s)

from audit.records import Rate

Z95 = 1.959963984540054
NO_RATE = Rate(rate=float("nan"), ci95=(float("nan"), float("nan")), n_photos=0)  # nothing to score


def wilson(successes: int, n: int) -> Rate:
    """Wilson score interval: well-behaved at 0% and 100%, where the normal interval collapses."""
    if n == 0:
        return NO_RATE
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact bounds, not rounding noise
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Rate(rate=p, ci95=(low, high), n_photos=n)


def mean_accuracy(rates: list[float], n: int) -> Rate:
    """The mean of several trackers' accuracies on the same n photos, with Wilson's interval over those
    photos (not over photos × trackers, which would overstate the evidence)."""
    if not rates:
        return NO_RATE
    mean = float(np.mean(rates))
    return replace(wilson(round(mean * n), n), rate=mean)


def clopper_pearson(successes: float, n: float) -> tuple[float, float]:
    """Exact binomial 95% interval; `successes` and `n` may be fractional (an effective sample)."""
    low = 0.0 if successes <= 0 else float(special.betaincinv(successes, n - successes + 1, 0.025))
    high = 1.0 if successes >= n else float(special.betaincinv(successes + 1, n - successes, 0.975))
    return low, high


def clustered_rate(successes: list[int], totals: list[int]) -> Rate:
    """Pooled rate over users, with a 95% interval that counts both the users and their photos.

    Photos of one user are not independent (one cloak, one face), so the evidence is fewer
    photos than it looks: Korn and Graubard's interval (Survey Methodology 24, 1998) shrinks
    the photos to an effective sample by the design effect that the spread between users shows
    (the ratio estimator's variance with users as clusters), then by (t₍photos−1₎ / t₍users−1₎)²
    so that three users cannot claim what three hundred would, and takes Clopper–Pearson's
    exact interval on it. At 0% or 100%, where the spread says nothing, and with one user, it
    is Clopper–Pearson over the photos: never a point, unlike a bootstrap over users there.
    """
    s, t = np.asarray(successes, float), np.asarray(totals, float)
    n, users = t.sum(), len(t)
    if n == 0:
        return replace(NO_RATE, n_users=users)
    rate = float(s.sum() / n)
    effective = n
    if users > 1 and 0 < rate < 1:
        variance = users / (users - 1) * float(((s - rate * t) ** 2).sum()) / n**2
        if variance > 0:
            effective = min(n, rate * (1 - rate) / variance)
        effective *= (special.stdtrit(n - 1, 0.975) / special.stdtrit(users - 1, 0.975)) ** 2
    return Rate(rate=rate, ci95=clopper_pearson(rate * effective, effective), n_photos=int(n), n_users=users)


def difference_interval(a: tuple[list[int], list[int]], b: tuple[list[int], list[int]], paired: bool, seed: int,
                        rounds: int = 2000) -> tuple[float, tuple[float, float]]:
    """Pooled rate of B minus A, (successes, totals) per user, with a 95% interval.

    Paired runs (the same users and photos) resample users together; unpaired runs resample
    each run's users on their own. With a single user on either side, Newcombe's interval from
    the two Wilson intervals (conservative for paired data).
    """
    (sa, ta), (sb, tb) = (np.asarray(x, float) for x in a), (np.asarray(x, float) for x in b)
    rate_a, rate_b = sa.sum() / ta.sum(), sb.sum() / tb.sum()
    diff = float(rate_b - rate_a)
    if len(ta) < 2 or len(tb) < 2:
        wa, wb = wilson(int(sa.sum()), int(ta.sum())), wilson(int(sb.sum()), int(tb.sum()))
        return newcombe_difference((rate_a, wa.ci95), (rate_b, wb.ci95))
    rng = np.random.default_rng(seed)
    picks_a = rng.integers(0, len(ta), size=(rounds, len(ta)))
    picks_b = picks_a if paired else rng.integers(0, len(tb), size=(rounds, len(tb)))
    diffs = sb[picks_b].sum(1) / np.maximum(tb[picks_b].sum(1), 1) - sa[picks_a].sum(1) / np.maximum(ta[picks_a].sum(1), 1)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return diff, (float(lo), float(hi))


def newcombe_difference(a: tuple[float, tuple[float, float]], b: tuple[float, tuple[float, float]]
                        ) -> tuple[float, tuple[float, float]]:
    """B − A with Newcombe's MOVER interval from the two estimates' own 95% intervals (as if independent: for
    positively correlated estimates, such as two runs on the same photos, it is conservative)."""
    (rate_a, (low_a, high_a)), (rate_b, (low_b, high_b)) = a, b
    change = float(rate_b - rate_a)
    return change, (max(-1.0, change - math.hypot(rate_b - low_b, high_a - rate_a)),
                    min(1.0, change + math.hypot(high_b - rate_b, rate_a - low_a)))


def mcnemar(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs (photos one run hid and the other did not)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)
