"""`audit compare A B`: the change in protection from run A to run B, cell by cell, with a verdict (the analysis;
`reports.compare` writes it down).

A cell is a (tracker, countermeasure, leak ratio, labels) result present in both runs, per seed when
both runs sweep the same seeds (and per budget when both sweep budgets). Runs with
the same protocol (dataset, users, seed, split options) are paired: by user in the bootstrap
and by photo in McNemar's test. Otherwise each run is resampled on its own. Two scorecards of one
battery are compared cell by cell from their intervals (Newcombe's MOVER), worst case included.

When either run swept a visibility budget, the two cloaks are also read off their protection–cost
curves at the same measured cost (`at_equal_cost`; a run without a sweep is one point, at its
copies' measured cost), so that "B beats A" cannot mean "B is more visible".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from audit.curves import compare_at_equal_cost, cost_curves
from audit.records import (BudgetCost, CellResult, ComparedCell, CompareReport, CostCurve, EqualCostComparison, McNemar,
                           RunReport, RunSummary, ScoreCard, ScoreCell)
from audit.records.files import load_report, load_scorecard
from audit.statistics import difference_interval, mcnemar, newcombe_difference
from audit.verdicts import change_verdict

# Protocol fields that must agree for two runs to have scored the same photos of the same users.
PAIRING_FIELDS = ("dataset", "users", "seed", "isolation", "min_photos", "max_photos", "train_fraction", "labels")


SCORECARD_METHOD = "Newcombe's MOVER from the two cells' intervals (a scorecard keeps no per-user rows)"


def compared_scorecell(a: ScoreCell, b: ScoreCell) -> ComparedCell:
    change, ci95 = newcombe_difference((a.protection.rate, a.protection.ci95), (b.protection.rate, b.protection.ci95))
    return ComparedCell(tracker=a.tracker, countermeasure=a.countermeasure, seed=None, leak_ratio=a.leak_ratio,
                        n_labels=None, a=a.protection.rate, b=b.protection.rate, a_control=a.control.rate,
                        b_control=b.control.rate, change=change, ci95=ci95, method=SCORECARD_METHOD,
                        verdict=change_verdict(ci95))


def card_summary(card: ScoreCard) -> RunSummary:
    return RunSummary(cloaker=card.name, cloaker_params=card.cloaker.params, command=card.environment.command_line)


def compare_documents(a: Path, b: Path, command: str = "") -> CompareReport:
    """Two runs (folders or report.json files), or two scorecards of one battery (bench folders or scorecard.json
    files), compared: never one of each."""
    cards = load_scorecard(a), load_scorecard(b)
    if any(cards) and not all(cards):
        raise ValueError("compare two runs, or two scorecards: not one of each")
    if all(cards):
        return compare_scorecards(*cards, command)
    return compare_reports(load_report(a), load_report(b), command)


def compare_scorecards(a: ScoreCard, b: ScoreCard, command: str = "") -> CompareReport:
    """B's scorecard against A's on the same battery version: every cell, and the worst case."""
    if a.battery != b.battery:
        raise ValueError(f"A ran battery {a.battery} and B {b.battery}: compare scorecards of one battery version")
    cells_b = {(c.tracker, c.countermeasure, c.leak_ratio): c for c in b.cells}
    keys_a = {(c.tracker, c.countermeasure, c.leak_ratio) for c in a.cells}
    cells = tuple(compared_scorecell(c, cells_b[key]) for c in a.cells
                  if (key := (c.tracker, c.countermeasure, c.leak_ratio)) in cells_b)
    worst_case = None if a.worst_case is None or b.worst_case is None else \
        replace(compared_scorecell(a.worst_case, b.worst_case), tracker="worst case", countermeasure="any")
    return CompareReport(paired=False, cells=cells, a=card_summary(a), b=card_summary(b),
                         only_in_a=tuple(sorted(map(str, keys_a - set(cells_b)))),
                         only_in_b=tuple(sorted(map(str, set(cells_b) - keys_a))), command=command,
                         worst_case=worst_case)


def comparison_key(result: CellResult, per_seed: bool = False) -> tuple:
    """Which cell of one run pairs with which of another: the result's cell, and its seed where runs sweep seeds."""
    return (*result.cell, result.seed) if per_seed else result.cell


def swept_seeds(report: RunReport) -> list:
    """The seeds a run swept (version 1 reports, from before seed sweeps, ran one)."""
    return sorted({r.seed for r in report.results}, key=str)


def same_protocol(a: RunReport, b: RunReport) -> bool:
    return all(getattr(a.protocol, k) == getattr(b.protocol, k) for k in PAIRING_FIELDS)


def compare_reports(a: RunReport, b: RunReport, command: str = "", seed: int = 0) -> CompareReport:
    """One record per common cell: A's and B's protection, B − A with its 95% interval, McNemar's
    p when photos pair, and the verdict (better/worse for B, or no detectable change)."""
    paired = same_protocol(a, b)
    seeds_a, seeds_b = swept_seeds(a), swept_seeds(b)
    per_seed = len(seeds_a) > 1 or len(seeds_b) > 1
    if per_seed and seeds_a != seeds_b:
        raise ValueError(f"A ran seeds {seeds_a} and B seeds {seeds_b}: compare runs over the same seeds")
    cells_b = {comparison_key(r, per_seed): r for r in b.results}
    cells = []
    for ra in a.results:
        rb = cells_b.get(comparison_key(ra, per_seed))
        if rb is not None:
            cells.append(compare_cell(ra, rb, paired, seed))
    equal_cost = equal_cost_comparisons(a, b, per_seed) if a.curves or b.curves else None
    if not cells and not equal_cost:
        raise ValueError("the two runs have no (tracker, countermeasure, leak ratio, labels) cell in common")
    keys_a = {comparison_key(r, per_seed) for r in a.results}
    return CompareReport(paired=paired, cells=tuple(cells), a=describe(a), b=describe(b),
                         only_in_a=tuple(sorted(map(str, keys_a - set(cells_b)))),
                         only_in_b=tuple(sorted(map(str, set(cells_b) - keys_a))), command=command,
                         at_equal_cost=equal_cost)


def curves_of(report: RunReport) -> tuple[CostCurve, ...]:
    """A run's protection–cost curves; a run without a budget sweep is one point per cell, at its copies' cost."""
    if report.curves:
        return report.curves
    cost = report.perturbation
    budget = BudgetCost(budget=report.cloaker.params.get("budget") or "as run", cloaker=report.cloaker.spec,
                        perturbation=cost)
    return cost_curves(tuple(replace(r, budget=budget.budget) for r in report.results), (budget,))


def equal_cost_comparisons(a: RunReport, b: RunReport, per_seed: bool) -> tuple[EqualCostComparison, ...]:
    """Each curve of A with B's for the same tracker, countermeasure and scenario, read at equal cost."""
    def key(curve: CostCurve) -> tuple:
        return curve.cell if per_seed else (curve.tracker, curve.countermeasure, curve.leak_ratio, curve.n_labels,
                                            curve.n_distractors)

    curves_b = {key(curve): curve for curve in curves_of(b)}
    return tuple(compare_at_equal_cost(curve, curves_b[key(curve)]) for curve in curves_of(a)
                 if key(curve) in curves_b)


def describe(report: RunReport) -> RunSummary:
    return RunSummary(cloaker=report.cloaker.name, cloaker_params=report.cloaker.params,
                      command=report.environment.command_line)


def compare_cell(ra: CellResult, rb: CellResult, paired: bool, seed: int) -> ComparedCell:
    users_a = {u.user: u for u in ra.per_user}
    users_b = {u.user: u for u in rb.per_user}
    if paired:
        users = [u for u in users_a if u in users_b]
        ua, ub = [users_a[u] for u in users], [users_b[u] for u in users]
    else:
        ua, ub = list(users_a.values()), list(users_b.values())
    diff, ci = difference_interval(([u.hidden for u in ua], [u.n_test for u in ua]),
                                   ([u.hidden for u in ub], [u.n_test for u in ub]), paired, seed)
    discordant = None
    if paired and all(u.hidden_photos is not None for u in ua + ub):
        only_a = only_b = 0
        for x, y in zip(ua, ub):
            common = set(x.test_photos) & set(y.test_photos)
            hidden_a, hidden_b = set(x.hidden_photos) & common, set(y.hidden_photos) & common
            only_a += len(hidden_a - hidden_b)
            only_b += len(hidden_b - hidden_a)
        discordant = McNemar(hidden_only_in_a=only_a, hidden_only_in_b=only_b, p=mcnemar(only_a, only_b))
    return ComparedCell(tracker=ra.tracker, countermeasure=ra.countermeasure, budget=ra.budget, seed=ra.seed,
                        leak_ratio=ra.leak_ratio,
                        n_labels=ra.n_labels, n_distractors=ra.n_distractors, a=ra.protection.rate,
                        b=rb.protection.rate, a_control=ra.control.rate, b_control=rb.control.rate, change=diff,
                        ci95=ci,
                        method="paired bootstrap over users" if paired else "bootstrap over each run's users",
                        mcnemar=discordant, verdict=change_verdict(ci))


def worse_cells(comparison: CompareReport, margin: float) -> list[ComparedCell]:
    """Cells (and a scorecard's worst case) where B is significantly worse than A by more than `margin` (the whole
    interval below −margin)."""
    cells = [*comparison.cells, *([comparison.worst_case] if comparison.worst_case else [])]
    return [c for c in cells if c.ci95[1] < -margin]
