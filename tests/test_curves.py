"""Protection–cost curves from a budget sweep, and two cloaks read off them at the same measured cost."""

import math
from dataclasses import replace

import pytest

from audit.comparison import compare_reports
from audit.curves import compare_at_equal_cost, cost_curves, read_at
from audit.records import BudgetCost, Perturbation
from tests.builders import cell, rate, run_report


def budget(name: str, lpips: float | None, dssim: float) -> BudgetCost:
    cost = Perturbation(n_photos=8, dssim_mean=dssim, dssim_max=dssim, psnr_mean=40.0, l2_mean=1.0, linf_max=9.0,
                        seconds_per_photo=1.0, lpips_mean=lpips, lpips_max=lpips)
    return BudgetCost(budget=name, cloaker=f"fawkes:budget={name}", perturbation=cost)


def swept(protection: dict[str, tuple[float, float, float]], costs: dict[str, float], tracker: str = "faiss"):
    """Results of one tracker over budgets (listed in any order), and each budget's measured LPIPS."""
    budgets = tuple(budget(name, costs[name], costs[name] / 4) for name in costs)
    results = tuple(cell(tracker, protection=rate(*protection[name]), budget=name) for name in protection)
    return results, budgets


def test_a_sweep_gives_one_curve_per_tracker_in_increasing_cost():
    costs = {"lpips:0.04": 0.038, "lpips:0.02": 0.019, "lpips:0.12": 0.101}
    results, budgets = swept({name: (0.5, 0.3, 0.7) for name in costs}, costs)
    more, _ = swept({name: (0.9, 0.8, 1.0) for name in costs}, costs, tracker="linear-probe")
    curves = cost_curves(results + more + (cell("faiss"),), budgets)  # a result without a budget joins no curve
    assert [c.tracker for c in curves] == ["faiss", "linear-probe"]
    assert [p.budget for p in curves[0].points] == ["lpips:0.02", "lpips:0.04", "lpips:0.12"]
    assert [p.lpips for p in curves[0].points] == [0.019, 0.038, 0.101]
    assert curves[0].points[0].dssim == pytest.approx(0.019 / 4)
    # without LPIPS (its weights could not be had) the curve runs along DSSIM
    no_lpips = tuple(replace(b, perturbation=replace(b.perturbation, lpips_mean=None)) for b in budgets)
    assert [p.budget for p in cost_curves(results, no_lpips)[0].points] == ["lpips:0.02", "lpips:0.04", "lpips:0.12"]


def test_a_curve_is_read_between_its_budgets_by_linear_interpolation():
    results, budgets = swept({"lpips:0.02": (0.2, 0.1, 0.4), "lpips:0.04": (0.6, 0.4, 0.8)},
                             {"lpips:0.02": 0.02, "lpips:0.04": 0.04})
    [curve] = cost_curves(results, budgets)
    assert read_at(curve, "lpips", 0.03) == (pytest.approx(0.4), (pytest.approx(0.25), pytest.approx(0.6)))
    assert read_at(curve, "lpips", 0.02) == (pytest.approx(0.2), (pytest.approx(0.1), pytest.approx(0.4)))
    with pytest.raises(ValueError, match="outside the curve's range"):
        read_at(curve, "lpips", 0.05)


def test_two_cloaks_are_compared_where_both_curves_reach_with_moverss_interval():
    a = cost_curves(*swept({"lpips:0.02": (0.2, 0.1, 0.4), "lpips:0.04": (0.6, 0.4, 0.8)},
                           {"lpips:0.02": 0.02, "lpips:0.04": 0.04}))[0]
    b = cost_curves(*swept({"lpips:0.03": (0.9, 0.8, 1.0), "lpips:0.06": (1.0, 0.9, 1.0)},
                           {"lpips:0.03": 0.03, "lpips:0.06": 0.06}))[0]
    compared = compare_at_equal_cost(a, b)
    assert [p.cost for p in compared.points] == [0.03, 0.04]  # the overlap [0.03, 0.04], at every measured cost there
    at_003 = compared.points[0]
    assert (at_003.a, at_003.b) == (pytest.approx(0.4), pytest.approx(0.9))
    # MOVER: change ± the root sum of squares of each estimate's distance to the relevant bound
    assert at_003.ci95[0] == pytest.approx(0.5 - math.hypot(0.9 - 0.8, 0.6 - 0.4))
    assert at_003.ci95[1] == pytest.approx(min(1.0, 0.5 + math.hypot(1.0 - 0.9, 0.4 - 0.25)))
    assert at_003.verdict == "better" and compared.metric == "lpips" and "MOVER" in compared.method
    # curves whose costs never meet are not compared at all
    far = cost_curves(*swept({"lpips:0.1": (1.0, 0.9, 1.0)}, {"lpips:0.1": 0.1}))[0]
    apart = compare_at_equal_cost(a, far)
    assert apart.points == () and apart.range_b == (0.1, 0.1)


def test_compare_reads_a_run_without_a_sweep_as_one_point_at_its_cost():
    results, budgets = swept({"lpips:0.02": (0.2, 0.1, 0.4), "lpips:0.04": (0.6, 0.4, 0.8)},
                             {"lpips:0.02": 0.02, "lpips:0.04": 0.04})
    sweep = run_report(list(results), budgets=budgets, curves=cost_curves(results, budgets))
    single = run_report([cell("faiss", protection=rate(0.1, 0.0, 0.3))], cloaker="lowkey")
    single = replace(single, perturbation=replace(single.perturbation, lpips_mean=0.025, lpips_max=0.03))
    comparison = compare_reports(sweep, single)
    assert comparison.cells == ()  # no budget cell in common: compared at equal cost only
    [at] = comparison.at_equal_cost
    assert [p.cost for p in at.points] == [0.025]
    assert at.points[0].a == pytest.approx(0.3) and at.points[0].b == pytest.approx(0.1)
