"""Reports of a run: `report.json` (one schema'd record), `report.md`, `report.html`, and the console table."""

from __future__ import annotations

import json
from pathlib import Path

from audit.paths import atomic_write_bytes
from reports.console import print_summary
from reports.html import render_run_html
from reports.markdown import render_markdown
from reports.plots import sweep_pngs


def write_reports(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """report.json, report.md (with sweep PNGs beside it) and the self-contained report.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    atomic_write_bytes(json_path, (json.dumps(report, indent=2, default=str) + "\n").encode())
    sweeps = sweep_pngs(report)
    for axis, png in sweeps:
        atomic_write_bytes(out_dir / f"sweep-{axis}.png", png)
    atomic_write_bytes(md_path, render_markdown(report, [f"sweep-{axis}.png" for axis, _ in sweeps]).encode())
    atomic_write_bytes(out_dir / "report.html", render_run_html(report, sweeps).encode())
    return json_path, md_path


__all__ = ["print_summary", "render_markdown", "write_reports"]
