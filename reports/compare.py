"""`compare.md` and `compare.html`: the change in protection from run A to run B as `audit.comparison` found it,
cell by cell, then at equal visibility."""

from __future__ import annotations

import json

from audit.records import ComparedCell, CompareReport, EqualCostComparison
from audit.verdicts import CHANGE_VERDICTS
from reports.formatting import interval_text, markdown_table, percent
from reports.html import esc, figure_html, page, table, verdict_box
from reports.plots import change_figure, png_bytes


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
    rows = [[f"`{c.tracker}`", c.countermeasure, *scenario_figures(c, scenario), *cell_figures(c), f"**{c.verdict}**"]
            for c in [*([comparison.worst_case] if comparison.worst_case else []), *comparison.cells]]
    lines = ["# cloak-audit comparison", "",
             f"A: `{name_a}` — cloaker {a.cloaker}; B: `{name_b}` — cloaker {b.cloaker}. "
             f"Change = B's protection − A's, with a 95% interval; {how}.", "", *markdown_table(header, rows)]
    for side, only in (("A", comparison.only_in_a), ("B", comparison.only_in_b)):
        if only:
            lines += ["", f"Cells only in {side} (not compared): {', '.join(only)}."]
    if comparison.at_equal_cost:
        rows, apart = equal_cost_rows(comparison.at_equal_cost)
        lines += ["", "## At equal visibility", "", EQUAL_COST_NOTE + comparison.at_equal_cost[0].method + ".", "",
                  *markdown_table(EQUAL_COST_HEADER, [[f"`{row[0]}`", *row[1:-1], f"**{row[-1]}**"] for row in rows])]
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


def equal_cost_html(comparison: CompareReport) -> list[str]:
    """The two cloaks read off their protection–cost curves at the same measured cost."""
    if not comparison.at_equal_cost:
        return []
    rows, apart = equal_cost_rows(comparison.at_equal_cost)
    return ["<h2>At equal visibility</h2>",
            f"<p>{esc(EQUAL_COST_NOTE + comparison.at_equal_cost[0].method)}.</p>",
            table(EQUAL_COST_HEADER, [[f"<code>{esc(row[0])}</code>", *map(esc, row[1:-1]), f"<b>{esc(row[-1])}</b>"]
                                      for row in rows]),
            *(f"<p>Not compared: {esc(sentence)}.</p>" for sentence in apart)]


def render_compare_html(comparison: CompareReport, name_a: str, name_b: str) -> str:
    cells = comparison.cells
    worse = any(c.verdict == "worse" for c in cells)
    better = any(c.verdict == "better" for c in cells)
    tone = "bad" if worse else "good" if better else "mixed"
    how = pairing_text(comparison)
    scenario = scenario_header(cells)
    rows = [[f"<code>{esc(c.tracker)}</code>", esc(c.countermeasure), *map(esc, scenario_figures(c, scenario)),
             *cell_figures(c), f"<b>{esc(c.verdict)}</b>"] for c in cells]
    sections = [
        f"<h1>cloak-audit comparison: {esc(comparison.a.cloaker)} → {esc(comparison.b.cloaker)}</h1>",
        verdict_box(f"B against A: <b>{esc(comparison_headline(comparison))}</b>", tone),
        f"<p>A: <code>{esc(name_a)}</code>; B: <code>{esc(name_b)}</code>. Change = B's protection − A's, with a "
        f"95% interval; {esc(how)}.</p>",
        *([table(["tracker", "countermeasure", *scenario, "A", "B", "change [95% CI]", "McNemar p", "verdict"], rows),
           figure_html(png_bytes(change_figure(cells)), "change in protection per cell")] if cells else
          ["<p>No cell is in both runs: they are compared at equal visibility only.</p>"]),
        *equal_cost_html(comparison),
        "<h2>Runs</h2>" + table(["", "cloaker", "options", "command"],
                                [[side.upper(), esc(run.cloaker), esc(json.dumps(run.cloaker_params)),
                                  f"<code>{esc(run.command)}</code>"]
                                 for side, run in (("a", comparison.a), ("b", comparison.b))]),
        f"<h2>Command</h2><pre>{esc(comparison.command)}</pre>",
    ]
    return page("cloak-audit comparison", sections)
