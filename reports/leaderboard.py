"""The leaderboard of one battery version (`audit leaderboard`), in Markdown and self-contained HTML: the ranking
`audit.battery.leaderboard` gives, each cloak's cost beside its headline."""

from __future__ import annotations

from audit.battery.leaderboard import ranked
from audit.records import ScoreCard
from reports.formatting import markdown_table, percent, rate_text
from reports.html import esc, page, table
from reports.scorecard import WORST_CASE, cell_name, cost_summary, protected_text

PROTECTED_CELLS = ("Transfer cells protected: how many transfer cells protect beyond the control (the protection's 95% "
                   "interval wholly above the control's), where the worst case says only where a cloak fails. "
                   "Among equal headlines it orders the rows; they share their rank.")
LEADERBOARD_HEADER = ["rank", "cloak", "worst-case protection", "set by", "transfer cells protected", "cost",
                      "white-box worst (apart)", "detectability (AUC)", "normal accuracy (lowest)"]


def leaderboard_rows(cards: list[ScoreCard]) -> list[list[str]]:
    """One row per cloak, in rank order, as table cells under LEADERBOARD_HEADER."""
    return [[str(rank), card.name, "—" if card.worst_case is None else rate_text(card.worst_case.protection),
             cell_name(card.worst_case), protected_text(card), cost_summary(card),
             "—" if card.worst_white_box is None else rate_text(card.worst_white_box.protection),
             "n/a" if card.detectability is None else f"{card.detectability:.3f}", percent(card.normal_accuracy)]
            for rank, card in ranked(cards)]


def render_leaderboard(cards: list[ScoreCard]) -> tuple[str, str]:
    """The leaderboard as Markdown and as one self-contained HTML page."""
    rows = leaderboard_rows(cards)
    battery = cards[0].battery
    markdown = "\n".join([f"# Leaderboard: {battery}", "", WORST_CASE, "", PROTECTED_CELLS, "",
                          *markdown_table(LEADERBOARD_HEADER, rows)])
    html = page(f"cloak-audit leaderboard: {battery}", [
        f"<h1>Leaderboard: {esc(battery)}</h1>", f"<p>{esc(WORST_CASE)}</p>", f"<p>{esc(PROTECTED_CELLS)}</p>",
        table(LEADERBOARD_HEADER, [list(map(esc, row)) for row in rows])])
    return markdown + "\n", html
