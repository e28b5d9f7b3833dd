"""`audit compare A B`: the change in protection from run A to run B, cell by cell, with a verdict.

A cell is a (tracker, countermeasure, leak ratio, labels) result present in both runs, per seed when
both runs sweep the same seeds (and per budget when both sweep budgets). Runs with
the same protocol (dataset, users, seed, split options) are paired: by user in the bootstrap
and by photo in McNemar's test. Otherwise each run is resampled on its own.

When either run swept a visibility budget, the two cloaks are also read off their protection–cost
curves at the same measured cost (`at_equal_cost`; a run without a sweep is one point, at its
copies' measured cost), so that "B beats A" cannot mean "B is more visible".
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

from audit.curves import compare_at_equal_cost, cost_curves
from audit.metrics import difference_interval, mcnemar
from audit.records import (BudgetCost, CellResult, ComparedCell, CompareReport, CostCurve, EqualCostComparison,
                           McNemar, RunReport, RunSummary, ScoreCard, ScoreCell, read_document)
from audit.verdicts import CHANGE_VERDICTS, change_verdict
from reports.formatting import interval_text, percent

# Protocol fields that must agree for two runs to have scored the same photos of the same users.
PAIRING_FIELDS = ("dataset", "users", "seed", "isolation", "min_photos", "max_photos", "train_fraction", "labels")


def load_scorecard(path: Path) -> ScoreCard | None:
    """The scorecard at `path` (a bench folder or its scorecard.json), or None when it holds none."""
    file = path / "scorecard.json" if path.is_dir() else path
    if file.name != "scorecard.json" or not file.is_file():
        return None
    return read_document("scorecard", json.loads(file.read_text(encoding="utf-8")))


def difference(a: tuple[float, tuple[float, float]], b: tuple[float, tuple[float, float]]
               ) -> tuple[float, tuple[float, float]]:
    """B − A with Newcombe's MOVER interval from the two estimates' own intervals (as if independent)."""
    (rate_a, (low_a, high_a)), (rate_b, (low_b, high_b)) = a, b
    change = rate_b - rate_a
    return change, (max(-1.0, change - math.hypot(rate_b - low_b, high_a - rate_a)),
                    min(1.0, change + math.hypot(high_b - rate_b, rate_a - low_a)))


SCORECARD_METHOD = "Newcombe's MOVER from the two cells' intervals (a scorecard keeps no per-user rows)"


def compared_scorecell(a: ScoreCell, b: ScoreCell) -> ComparedCell:
    change, ci95 = difference((a.protection.rate, a.protection.ci95), (b.protection.rate, b.protection.ci95))
    return ComparedCell(tracker=a.tracker, countermeasure=a.countermeasure, seed=None, leak_ratio=a.leak_ratio,
                        n_labels=None, a=a.protection.rate, b=b.protection.rate, a_control=a.control.rate,
                        b_control=b.control.rate, change=change, ci95=ci95, method=SCORECARD_METHOD,
                        verdict=change_verdict(ci95))


def card_summary(card: ScoreCard) -> RunSummary:
    return RunSummary(cloaker=card.name, cloaker_params=card.cloaker.params, command=card.environment.command_line)


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


def load_report(path: Path) -> RunReport:
    """A run folder (its report.json) or a report file, of any schema version this code reads."""
    file = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no report.json (give a run folder or its report.json)") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{file}: not a report ({err})") from None
    if not isinstance(data, dict) or "results" not in data or "protocol" not in data:
        raise ValueError(f"{file}: not an `audit run` report (no results/protocol)")
    try:
        return read_document("run", data)
    except ValueError as err:  # RecordError: names the key
        raise ValueError(f"{file}: not a readable `audit run` report ({err})") from None


def cell_key(result: CellResult, per_seed: bool = False) -> tuple:
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
    cells_b = {cell_key(r, per_seed): r for r in b.results}
    cells = []
    for ra in a.results:
        rb = cells_b.get(cell_key(ra, per_seed))
        if rb is not None:
            cells.append(compare_cell(ra, rb, paired, seed))
    equal_cost = equal_cost_comparisons(a, b, per_seed) if a.curves or b.curves else None
    if not cells and not equal_cost:
        raise ValueError("the two runs have no (tracker, countermeasure, leak ratio, labels) cell in common")
    keys_a = {cell_key(r, per_seed) for r in a.results}
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


def pairing_text(comparison: CompareReport) -> str:
    return ("paired (same protocol and seed: by user, and by photo for McNemar)" if comparison.paired
            else "unpaired (the protocols differ)")


def scenario_header(cells: list[ComparedCell]) -> list[str]:
    """The columns that say which scenario a row is: distractors only when some gallery held strangers, the budget
    only when the runs swept one."""
    return ["leak ratio", "labels", *(["distractors"] if any(c.n_distractors for c in cells) else []),
            *(["budget"] if any(c.budget for c in cells) else [])]


def scenario_figures(cell: ComparedCell, header: list[str]) -> list[str]:
    return [str(cell.leak_ratio), str(cell.n_labels), *([str(cell.n_distractors)] if "distractors" in header else []),
            *([str(cell.budget)] if "budget" in header else [])]


EQUAL_COST_HEADER = ["tracker", "countermeasure", "leak ratio", "labels", "cost", "A", "B", "change [95% CI]",
                     "verdict"]


def equal_cost_rows(comparisons: tuple[EqualCostComparison, ...]) -> tuple[list[list[str]], list[str]]:
    """The rows of every point compared at equal cost (cells as text), and a sentence per pair of curves whose
    cost ranges do not overlap."""
    rows, apart = [], []
    for c in comparisons:
        if not c.points:
            apart.append(f"{c.tracker} / {c.countermeasure}: A's {c.metric.upper()} {c.range_a[0]:.4f}–"
                         f"{c.range_a[1]:.4f} and B's {c.range_b[0]:.4f}–{c.range_b[1]:.4f} do not overlap")
        for p in c.points:
            rows.append([c.tracker, c.countermeasure, str(c.leak_ratio), str(c.n_labels),
                         f"{c.metric.upper()} {p.cost:.4f}", interval_text(p.a, p.a_ci95), interval_text(p.b, p.b_ci95),
                         f"{100 * p.change:+.1f} pts [{100 * p.ci95[0]:+.1f}, {100 * p.ci95[1]:+.1f}]", p.verdict])
    return rows, apart


EQUAL_COST_NOTE = ("At equal visibility: A's and B's protection read off their protection–cost curves at the same "
                   "measured cost (a run without a budget sweep is one point, at its copies' cost). Method: ")


def cell_figures(cell: ComparedCell) -> list[str]:
    """A's and B's protection (with their controls), the change with its interval and McNemar's p, as table cells."""
    return [f"{percent(cell.a)} (control {percent(cell.a_control)})",
            f"{percent(cell.b)} (control {percent(cell.b_control)})",
            f"{100 * cell.change:+.1f} pts [{100 * cell.ci95[0]:+.1f}, {100 * cell.ci95[1]:+.1f}]",
            f"{cell.mcnemar.p:.2g}" if cell.mcnemar else "—"]


def render_comparison_markdown(comparison: CompareReport, name_a: str, name_b: str) -> str:
    a, b = comparison.a, comparison.b
    how = pairing_text(comparison)
    scenario = scenario_header(comparison.cells)
    header = ["tracker", "countermeasure", *scenario, "A", "B", "change [95% CI]", "McNemar p", "verdict"]
    lines = ["# cloak-audit comparison", "",
             f"A: `{name_a}` — cloaker {a.cloaker}; B: `{name_b}` — cloaker {b.cloaker}. "
             f"Change = B's protection − A's, with a 95% interval; {how}.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for c in [*([comparison.worst_case] if comparison.worst_case else []), *comparison.cells]:
        lines.append(f"| `{c.tracker}` | {c.countermeasure} | "
                     + " | ".join([*scenario_figures(c, scenario), *cell_figures(c)]) + f" | **{c.verdict}** |")
    for side, only in (("A", comparison.only_in_a), ("B", comparison.only_in_b)):
        if only:
            lines += ["", f"Cells only in {side} (not compared): {', '.join(only)}."]
    if comparison.at_equal_cost:
        rows, apart = equal_cost_rows(comparison.at_equal_cost)
        lines += ["", "## At equal visibility", "", EQUAL_COST_NOTE + comparison.at_equal_cost[0].method + ".", "",
                  "| " + " | ".join(EQUAL_COST_HEADER) + " |", "|" + "---|" * len(EQUAL_COST_HEADER),
                  *(f"| `{row[0]}` | " + " | ".join(row[1:-1]) + f" | **{row[-1]}** |" for row in rows)]
        lines += [f"Not compared: {sentence}." for sentence in apart]
    return "\n".join(lines) + "\n"


def comparison_headline(comparison: CompareReport) -> str:
    counts = {v: sum(c.verdict == v for c in comparison.cells) for v in CHANGE_VERDICTS}
    n = len(comparison.cells)
    headline = ", ".join(f"{k} {v}" for v, k in counts.items() if k) + f" ({n} {'cell' if n == 1 else 'cells'})"
    points = [p for c in comparison.at_equal_cost or () for p in c.points]
    if points:
        at = {v: sum(p.verdict == v for p in points) for v in CHANGE_VERDICTS}
        headline += "; at equal visibility: " + ", ".join(f"{k} {v}" for v, k in at.items() if k)
    return headline.removeprefix(" (0 cells); ")
