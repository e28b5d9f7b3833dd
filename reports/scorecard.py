"""A cloak's scorecard (`audit bench`) in Markdown and self-contained HTML: the headline first (worst-case
protection over every transfer cell, with the cell that set it), the cost beside it."""

from __future__ import annotations

from audit.battery.scorecard import protected_cells
from audit.records import ScoreCard, ScoreCell
from reports.formatting import cost_text, markdown_table, percent, rate_text, short_label, short_model
from reports.html import esc, page, table, verdict_box

WORST_CASE = ("Worst-case protection: the lowest protection over every transfer cell (tracker × countermeasure × "
              "leak ratio; the tracker's model is none the cloak was made on), as robust accuracy is RobustBench's "
              "headline. White-box cells, where the tracker uses a model the cloak was optimised against (or a copy "
              "robust retraining fine-tuned from one), are shown apart and never set it.")
CELL_HEADER = ["tracker", "model", "countermeasure", "leak ratio", "protection", "control", "normal accuracy"]


def cell_name(cell: ScoreCell | None) -> str:
    if cell is None:
        return "no cell"
    return (f"{short_label(cell.tracker)}, {cell.countermeasure}, leak ratio {cell.leak_ratio}")


def headline(card: ScoreCard) -> str:
    if card.worst_case is None:
        return "no transfer cell was scored: no headline"
    return f"worst-case protection {rate_text(card.worst_case.protection)} ({cell_name(card.worst_case)})"


def protected_text(card: ScoreCard) -> str:
    protecting, scored = protected_cells(card)
    return f"{protecting} of {scored}"


def cost_summary(card: ScoreCard) -> str:
    cost = card.cost
    lpips = "n/a" if cost.lpips_mean is None else f"{cost.lpips_mean:.4f}"
    return f"LPIPS {lpips}, DSSIM {cost.dssim_mean:.4f}"


def cell_rows(card: ScoreCard) -> list[list[str]]:
    return [[short_label(c.tracker), f"{short_model(c.tracker_extractor or c.tracker)} "
             f"({'transfer' if c.transfer else 'white-box'})", c.countermeasure, str(c.leak_ratio),
             rate_text(c.protection), rate_text(c.control), rate_text(c.normal_accuracy)] for c in card.cells]


def render_scorecard_markdown(card: ScoreCard) -> str:
    lines = [f"# Scorecard: {card.name} on {card.battery}", "",
             f"**{headline(card)}**.", "", WORST_CASE, "",
             f"Cloak: `{card.cloaker.spec}` ({card.cloaker.implementation}; optimised against "
             f"{', '.join(card.cloaker.cloak_extractors) or 'no model cloak-audit knows'}). "
             f"Cost: {cost_text(card.cost)}.", "",
             f"White-box, apart: {'none' if card.worst_white_box is None else rate_text(card.worst_white_box.protection)}"
             + ("" if card.worst_white_box is None else f" at worst ({cell_name(card.worst_white_box)})") + ". "
             f"Detectability (2-means ROC AUC, protected vs clean classes): "
             f"{'n/a' if card.detectability is None else f'{card.detectability:.3f}'}. "
             f"Transfer cells protected (beyond the control): {protected_text(card)}. Normal accuracy at least "
             f"{percent(card.normal_accuracy)}; the control hid at most {percent(card.control)}.",
             *([f"Models missing here (not scored): {', '.join(card.models_missing)}."] if card.models_missing else []),
             "", "## Lowest transfer protection per model and per countermeasure", "",
             *markdown_table(["tracker model", "lowest protection"],
                             [[f"`{short_model(m)}`", percent(v)] for m, v in card.by_model.items()]), "",
             *markdown_table(["countermeasure", "lowest protection"],
                             [[c, percent(v)] for c, v in card.by_countermeasure.items()]), "",
             "## Every cell", "", *markdown_table(CELL_HEADER, cell_rows(card)), "",
             f"Runs: {', '.join(f'`{r}`' for r in card.runs)}. Command: `{card.environment.command_line}`."]
    return "\n".join(lines) + "\n"


def render_scorecard_html(card: ScoreCard) -> str:
    tone = "mixed" if card.worst_case is None else "good" if card.worst_case.protection.ci95[0] >= 0.8 else "bad"
    sections = [f"<h1>Scorecard: {esc(card.name)} on {esc(card.battery)}</h1>",
                verdict_box(f"<b>{esc(headline(card))}</b>", tone),
                f"<p>{esc(WORST_CASE)}</p>",
                f"<p>Cloak <code>{esc(card.cloaker.spec)}</code>. Cost: {esc(cost_text(card.cost))}. Transfer cells "
                f"protected (beyond the control): {esc(protected_text(card))}.</p>",
                table(["tracker model", "lowest transfer protection"],
                      [[f"<code>{esc(short_model(m))}</code>", esc(percent(v))] for m, v in card.by_model.items()]),
                table(["countermeasure", "lowest transfer protection"],
                      [[esc(c), esc(percent(v))] for c, v in card.by_countermeasure.items()]),
                "<h2>Every cell</h2>", table(CELL_HEADER, [list(map(esc, row)) for row in cell_rows(card)])]
    return page(f"scorecard: {card.name}", sections)
