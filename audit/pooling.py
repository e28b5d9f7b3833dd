"""Results pooled over a seed sweep: one record per (tracker, countermeasure, leak ratio, labels).

Two views of the same runs. The headline pools every test photo and clusters by user *name*,
so that a user drawn under two seeds counts as one cluster, not two independent ones
(`clustered_rate`). The spread over seeds (mean and a t interval over the per-seed rates)
says how much the answer depends on which users and photos the seed drew.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from audit.records import CellResult, OverSeeds, PooledRate, PooledResult
from audit.statistics import clustered_rate


def pool_seeds(results: list[CellResult]) -> tuple[PooledResult, ...]:
    groups: dict[tuple, list[CellResult]] = {}
    for result in results:
        groups.setdefault(result.cell, []).append(result)
    return tuple(pooled_record(group) for group in groups.values() if len(group) > 1)


def pooled_record(group: list[CellResult]) -> PooledResult:
    first = group[0]
    pooled = {}
    for measure in ("protection", "control"):
        per_user: dict[str, list[int]] = {}
        for result in group:
            for row in result.per_user:
                hits = per_user.setdefault(row.user, [0, 0])
                hits[0] += row.hidden if measure == "protection" else row.control_hidden
                hits[1] += row.n_test
        rate = clustered_rate([h for h, _ in per_user.values()], [n for _, n in per_user.values()])
        pooled[measure] = PooledRate(rate=rate.rate, ci95=rate.ci95, n_photos=rate.n_photos, n_users=len(per_user),
                                     over_seeds=over_seeds([getattr(r, measure).rate for r in group]))
    return PooledResult(tracker=first.tracker, tracker_extractor=first.tracker_extractor,
                        cloak_extractors=first.cloak_extractors, transfer=first.transfer,
                        countermeasure=first.countermeasure, leak_ratio=first.leak_ratio, n_labels=first.n_labels,
                        n_distractors=first.n_distractors, seeds=tuple(r.seed for r in group), **pooled,
                        normal_accuracy=over_seeds([r.normal_accuracy.rate for r in group]), budget=first.budget)


def over_seeds(rates: list[float]) -> OverSeeds:
    """Mean of the per-seed rates with Student's t interval over seeds, within [0, 1]."""
    values = np.asarray([r for r in rates if r == r], float)  # a seed without test photos has no rate
    if len(values) == 0:
        return OverSeeds(mean=float("nan"), ci95=(float("nan"), float("nan")), n_seeds=0)
    mean = float(values.mean())
    if len(values) < 2:
        return OverSeeds(mean=mean, ci95=(float("nan"), float("nan")), n_seeds=1)
    half = float(special.stdtrit(len(values) - 1, 0.975) * values.std(ddof=1) / np.sqrt(len(values)))
    return OverSeeds(mean=mean, ci95=(max(0.0, mean - half), min(1.0, mean + half)), n_seeds=len(values))
