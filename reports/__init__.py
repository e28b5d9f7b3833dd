"""Reports render the records the core computed, one module per document (`run`, `verify`, `compare`, `scorecard`,
`leaderboard`; the run's console table in `console`), each a JSON record, Markdown and self-contained HTML."""

from __future__ import annotations

from pathlib import Path

from audit.paths import atomic_write_bytes
from audit.records import Document, RunReport, dumps
from reports.console import print_summary
from reports.plots import sweep_pngs
from reports.run import render_run_html, render_run_markdown


def write_documents(out_dir: Path, stem: str, record: Document, markdown: str, html: str) -> tuple[Path, Path]:
    """`<stem>.json`, `<stem>.md` and the self-contained `<stem>.html` in out_dir, each written whole or not at all."""
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    atomic_write_bytes(json_path, dumps(record).encode())
    atomic_write_bytes(md_path, markdown.encode())
    atomic_write_bytes(out_dir / f"{stem}.html", html.encode())
    return json_path, md_path


def write_reports(report: RunReport, out_dir: Path) -> tuple[Path, Path]:
    """report.json, report.md (with sweep PNGs beside it) and report.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sweeps = sweep_pngs(report)
    for axis, png in sweeps:
        atomic_write_bytes(out_dir / f"sweep-{axis}.png", png)
    return write_documents(out_dir, "report", report,
                           render_run_markdown(report, [f"sweep-{axis}.png" for axis, _ in sweeps]),
                           render_run_html(report, sweeps))


__all__ = ["print_summary", "render_run_markdown", "write_documents", "write_reports"]
