"""The tables of bench/transfer_matrix.sh's runs, in Markdown: protection per cloak × budget × tracker (white-box
cells bold), each budget's measured cost, the controls and normal accuracy, the countermeasures at the middle
budget, LowKey as published, and whether the ensemble and the single-model cloak spent the same visibility
(LPIPS, and DSSIM beside it).

    .venv/bin/python bench/transfer_matrix.py OUT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from audit.records import Perturbation, RunReport, read_document
from reports.formatting import rate_text, short_label

CLOAKS = ("fawkes", "fawkes-ensemble", "lowkey", "noise")
SINGLE_MODEL = ("fawkes", "fawkes-300-steps")  # the single-model Fawkes runs the ensemble is paired with
TRACKERS = [f"{kind}:extractor={model}" for model in ("dlib-resnet", "mobilefacenet", "faceres")
            for kind in ("faiss", "linear-probe")]


def load(folder: Path) -> RunReport | None:
    path = folder / "report.json"
    return read_document("run", json.loads(path.read_text())) if path.is_file() else None


def cell_text(result) -> str:
    text = rate_text(result.protection)
    return f"**{text}**" if result.transfer is False else text


def header(first: str) -> list[str]:
    return [f"| {first} | " + " | ".join(f"`{short_label(t)}`" for t in TRACKERS) + " |",
            "|---|" + "---|" * len(TRACKERS)]


def matrix(out: Path) -> list[str]:
    lines = ["Protection [95% CI] with no countermeasure (bold: white-box). Cost: the copies' mean LPIPS / DSSIM "
             "on the whole photo.", "", *header("cloak, budget (measured LPIPS / DSSIM)")]
    controls, accuracy = [], []
    for name in (*CLOAKS, "fawkes-300-steps"):
        report = load(out / name)
        if report is None:
            lines.append(f"| {name} | " + " | ".join(["(not run)"] * len(TRACKERS)) + " |")
            continue
        for budget, cost in costs_by_budget(report).items():
            cells = {r.tracker: r for r in report.results
                     if r.budget in (budget, None) and r.countermeasure == "none"}  # None: a run of one budget
            controls += [c.control.rate for c in cells.values()]
            accuracy += [c.normal_accuracy.rate for c in cells.values()]
            lines.append(f"| {name} {budget} ({cost.lpips_mean:.4f} / {cost.dssim_mean:.4f}) | "
                         + " | ".join(cell_text(cells[t]) if t in cells else "—" for t in TRACKERS) + " |")
    if controls:
        lines += ["", f"Controls: {100 * min(controls):.1f}–{100 * max(controls):.1f}% protection without cloaks; "
                      f"normal accuracy {100 * min(accuracy):.1f}–{100 * max(accuracy):.1f}%."]
    for budget, single_name, single, ensemble in ensemble_pairs(out):
        lines.append(f"- {budget}: ensemble / {single_name} photo LPIPS = {ensemble.lpips_mean:.4f} / "
                     f"{single.lpips_mean:.4f} = {ensemble.lpips_mean / single.lpips_mean:.2f} (DSSIM "
                     f"{ensemble.dssim_mean:.4f} / {single.dssim_mean:.4f} = "
                     f"{ensemble.dssim_mean / single.dssim_mean:.2f})")
    return lines


def costs_by_budget(report: RunReport) -> dict[str, Perturbation]:
    """The copies' measured cost per budget: a sweep records each budget's; a single budget is the run's own."""
    if report.budgets:
        return {budget.budget: budget.perturbation for budget in report.budgets}
    return {str(report.cloaker.params.get("budget")): report.perturbation}


def ensemble_pairs(out: Path) -> list[tuple[str, str, Perturbation, Perturbation]]:
    """(budget, single-model run, its cost, the ensemble's cost) for every budget both cloaks ran at, in any run."""
    spent: dict[tuple[str, str], Perturbation] = {}
    for name in (*SINGLE_MODEL, "fawkes-ensemble"):
        for run in (name, f"{name}-countermeasures"):
            report = load(out / run)
            for budget, cost in costs_by_budget(report).items() if report else ():
                spent[(name, budget)] = cost
    return [(budget, name, single, spent[("fawkes-ensemble", budget)]) for (name, budget), single in spent.items()
            if name in SINGLE_MODEL and ("fawkes-ensemble", budget) in spent]


def countermeasures(out: Path) -> list[str]:
    lines = ["", "At the middle budget, with the tracker's train-time countermeasures:", "",
             *header("cloak, budget (measured LPIPS / DSSIM), countermeasure")]
    for name in CLOAKS:
        report = load(out / f"{name}-countermeasures")
        if report is None:
            continue
        [cost] = costs_by_budget(report).values()
        for countermeasure in dict.fromkeys(r.countermeasure for r in report.results):
            cells = {r.tracker: r for r in report.results if r.countermeasure == countermeasure}
            lines.append(f"| {name} {report.cloaker.params.get('budget')} ({cost.lpips_mean:.4f} / "
                         f"{cost.dssim_mean:.4f}), {countermeasure} | "
                         + " | ".join(cell_text(cells[t]) if t in cells else "—" for t in TRACKERS) + " |")
    return lines


def published_lowkey(out: Path) -> list[str]:
    report = load(out / "lowkey-as-published")
    if report is None:
        return []
    cost = report.perturbation
    cells = {r.tracker: r for r in report.results}
    return ["", f"LowKey as its code runs it (0.05·LPIPS penalty, no budget): photo LPIPS {cost.lpips_mean:.4f}, "
                f"DSSIM {cost.dssim_mean:.4f}, {cost.seconds_per_photo:.1f} s per photo.", "",
            *header("cloak"), "| lowkey | " + " | ".join(cell_text(cells[t]) if t in cells else "—"
                                                         for t in TRACKERS) + " |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    out = parser.parse_args().out
    print("\n".join(matrix(out) + countermeasures(out) + published_lowkey(out)))


if __name__ == "__main__":
    main()
