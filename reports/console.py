"""The console summary of a run (rich)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from audit.records import RunReport
from audit.verdicts import cell_verdict
from reports.formatting import (POOLED_HEADER, SWEPT, cost_text, model_text, pooled_figures, pooled_title, rate_text,
                                swept_columns, swept_values, tracker_labels)

UNBOUNDED = 1_000_000  # columns: rich lays a table out at its natural width when it has room for it


def summary_console() -> Console:
    """A terminal's own width (rich wraps cells to fit it); a log file or a pipe gets tables at their natural width,
    never wrapped or cut (rich would assume 80 columns there)."""
    console = Console()
    return console if console.is_terminal else Console(width=UNBOUNDED)


def print_summary(report: RunReport, console: Console | None = None) -> None:
    console = console or summary_console()
    style = box.HEAVY_HEAD if console.is_terminal else box.SIMPLE_HEAD  # plain columns in a log file
    labels = tracker_labels(report.trackers)
    table = Table(title=f"cloak-audit: {report.cloaker.name} ({report.cloaker.implementation})", box=style)
    swept = swept_columns(report.results)
    for column in ("tracker", "tracker model", "countermeasure", *(SWEPT[k] for k in swept), "protection", "control",
                   "normal accuracy", "verdict"):
        table.add_column(column)
    for result in report.results:
        table.add_row(labels[result.tracker], model_text(result), result.countermeasure, *swept_values(result, swept),
                      rate_text(result.protection), rate_text(result.control), rate_text(result.normal_accuracy),
                      cell_verdict(result))
    console.print(table)
    if report.pooled:
        unswept = [k for k in swept if k != "seed"]
        pooled = Table(title=pooled_title(report), box=style)
        for column in ("tracker", "countermeasure", *(SWEPT[k] for k in unswept), *POOLED_HEADER):
            pooled.add_column(column)
        for p in report.pooled:
            pooled.add_row(labels[p.tracker], p.countermeasure, *swept_values(p, unswept), *pooled_figures(p))
        console.print(pooled)
    console.print(f"cost: {cost_text(report.perturbation)}; {len(report.skipped)} photo(s) skipped")
    if report.cloud:
        cloud = report.cloud
        left = f"LEFT BEHIND: {', '.join(cloud.leftovers)}" if cloud.leftovers else "nothing left behind"
        console.print(f"cloud run {cloud.run_id}: {sum(cloud.api_calls.values()):,} API calls; "
                      f"{len(cloud.deleted)} of {len(cloud.created)} galleries deleted, {left}")
