"""Protection–cost curves: what a budget sweep's cloaks bought against what they measurably cost the photo,
and two cloaks read off their curves at the same cost, so that "B protects better" cannot mean "B is more
visible".
"""

from __future__ import annotations

import math

from audit.records import BudgetCost, CellResult, CostCurve, CurvePoint, EqualCostComparison, EqualCostPoint
from audit.verdicts import change_verdict

EQUAL_COST_METHOD = (
    "each curve read at the same measured cost by linear interpolation between its two nearest budgets (the "
    "protection and both bounds of its 95% interval alike; at a budget's own cost, that budget's figures); "
    "B − A's 95% interval by Newcombe's MOVER from the two intervals, as for independent estimates (two runs on the "
    "same photos are positively correlated, so it is conservative)")


def cost_curves(results: tuple[CellResult, ...], budgets: tuple[BudgetCost, ...]) -> tuple[CostCurve, ...]:
    """One curve per (tracker, countermeasure, scenario) of a budget sweep, its points in increasing cost."""
    cost = {b.budget: b.perturbation for b in budgets}
    groups: dict[tuple, list[CellResult]] = {}
    for r in results:
        if r.budget in cost:
            key = (r.tracker, r.countermeasure, r.seed, r.leak_ratio, r.n_labels, r.n_distractors)
            groups.setdefault(key, []).append(r)
    curves = []
    for rows in groups.values():
        points = [CurvePoint(budget=r.budget, lpips=cost[r.budget].lpips_mean, dssim=cost[r.budget].dssim_mean,
                             protection=r.protection, control=r.control, normal_accuracy=r.normal_accuracy)
                  for r in rows]
        metric = cost_metric(points)
        first = rows[0]
        curves.append(CostCurve(tracker=first.tracker, tracker_extractor=first.tracker_extractor,
                                transfer=first.transfer, countermeasure=first.countermeasure, seed=first.seed,
                                leak_ratio=first.leak_ratio, n_labels=first.n_labels,
                                n_distractors=first.n_distractors,
                                points=tuple(sorted(points, key=lambda p: point_cost(p, metric)))))
    return tuple(curves)


def cost_metric(points: tuple[CurvePoint, ...] | list[CurvePoint]) -> str:
    """LPIPS, the yardstick, wherever it was measured; DSSIM where it could not be."""
    return "lpips" if all(p.lpips is not None for p in points) else "dssim"


def point_cost(point: CurvePoint, metric: str) -> float:
    return point.lpips if metric == "lpips" else point.dssim


def read_at(curve: CostCurve, metric: str, cost: float) -> tuple[float, tuple[float, float]]:
    """The curve's protection and interval at `cost` (within its range), interpolated linearly."""
    points = sorted(curve.points, key=lambda p: point_cost(p, metric))
    for below, above in zip(points, points[1:]):
        x0, x1 = point_cost(below, metric), point_cost(above, metric)
        if x0 <= cost <= x1:
            t = 0.0 if x1 == x0 else (cost - x0) / (x1 - x0)

            def mix(a: float, b: float) -> float:
                return (1 - t) * a + t * b

            rate_0, rate_1 = below.protection, above.protection
            return mix(rate_0.rate, rate_1.rate), (mix(rate_0.ci95[0], rate_1.ci95[0]),
                                                   mix(rate_0.ci95[1], rate_1.ci95[1]))
    only = points[0]
    if len(points) == 1 and math.isclose(point_cost(only, metric), cost):
        return only.protection.rate, only.protection.ci95
    raise ValueError(f"cost {cost} lies outside the curve's range")


def compare_at_equal_cost(a: CostCurve, b: CostCurve) -> EqualCostComparison:
    """B's protection minus A's at every measured cost of either curve where both curves reach."""
    metric = "lpips" if cost_metric(a.points) == cost_metric(b.points) == "lpips" else "dssim"
    costs_a = [point_cost(p, metric) for p in a.points]
    costs_b = [point_cost(p, metric) for p in b.points]
    low, high = max(min(costs_a), min(costs_b)), min(max(costs_a), max(costs_b))
    points = []
    for cost in sorted({c for c in costs_a + costs_b if low <= c <= high}):
        rate_a, interval_a = read_at(a, metric, cost)
        rate_b, interval_b = read_at(b, metric, cost)
        change = rate_b - rate_a
        lower = change - math.hypot(rate_b - interval_b[0], interval_a[1] - rate_a)
        upper = change + math.hypot(interval_b[1] - rate_b, rate_a - interval_a[0])
        ci95 = (max(-1.0, lower), min(1.0, upper))
        points.append(EqualCostPoint(cost=cost, a=rate_a, a_ci95=interval_a, b=rate_b, b_ci95=interval_b,
                                     change=change, ci95=ci95, verdict=change_verdict(ci95)))
    return EqualCostComparison(tracker=a.tracker, countermeasure=a.countermeasure, seed=a.seed,
                               leak_ratio=a.leak_ratio, n_labels=a.n_labels, n_distractors=a.n_distractors,
                               metric=metric, range_a=(min(costs_a), max(costs_a)),
                               range_b=(min(costs_b), max(costs_b)), points=tuple(points), method=EQUAL_COST_METHOD)
