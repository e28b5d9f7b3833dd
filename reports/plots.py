"""The report's plots: sweep curves and cloak-detection ROC curves (matplotlib).

Sweeps: one figure per swept axis (the leak ratio, the label count, and each countermeasure
family, `blur`, `jpeg`, ..., with `none` as its first point); a curve is one tracker, error bars
the report's 95% intervals. A budget sweep's figure puts protection against the cost its copies
measured on the photo (`budget`). They are saved as PNGs beside `report.md` and embedded in the HTML.
"""

from __future__ import annotations

import io
from types import ModuleType
from typing import TYPE_CHECKING

from audit.curves import cost_metric, point_cost
from audit.records import CellResult, ComparedCell, CostCurve, Detection, RunReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot() -> ModuleType:
    """matplotlib's pyplot on the file-only Agg backend (no display on CI or servers), imported when a
    first figure is drawn: a report with nothing to plot never pays for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sweep_pngs(report: RunReport) -> list[tuple[str, bytes]]:
    """(axis, PNG) per swept axis, none when nothing was swept: saved beside report.md as
    `sweep-<axis>.png` and embedded in report.html."""
    return [(axis, png_bytes(figure)) for axis, figure in sweep_figures(report)]


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    pyplot().close(figure)
    return buffer.getvalue()


def sweep_figures(report: RunReport) -> list[tuple[str, Figure]]:
    """(axis name, figure) per swept axis."""
    if not report.results:
        return []
    first = report.results[0]
    # a seed or budget sweep: the first seed's and budget's (the budget has a figure of its own)
    results = [r for r in report.results if r.seed == first.seed and r.budget == first.budget]
    written = [("budget", curve_figure(report.curves))] if report.curves else []
    axes = (("leak_ratio", "leak ratio"), ("n_labels", "identities known to the tracker"),
            ("n_distractors", "distractor identities in the gallery"))

    def same(r: CellResult, keys: list[str]) -> bool:
        return all(getattr(r, key) == getattr(first, key) for key in keys)

    for key, label in axes:
        if len({getattr(r, key) for r in results}) > 1:  # the other scenario axis held at the first value
            held = [other for other, _ in axes if other != key]
            fixed = [r for r in results if r.countermeasure == "none" and same(r, held)]
            written.append((key, _plot(fixed, lambda r, k=key: getattr(r, k), label)))
    first_scenario = [r for r in results if same(r, [key for key, _ in axes])]
    families = sorted({r.countermeasure.split(":")[0] for r in first_scenario} - {"none"})
    for family in families:
        chosen = [r for r in first_scenario if r.countermeasure == "none" or r.countermeasure.split(":")[0] == family]
        order = list(dict.fromkeys(r.countermeasure for r in chosen))
        written.append((family, _plot(chosen, lambda r, o=order: o.index(r.countermeasure),
                                      f"countermeasure ({family})", ticks=order)))
    return written


def _plot(results: list[CellResult], x_of, x_label: str, ticks: list[str] | None = None) -> Figure:
    figure, axes = pyplot().subplots(1, 2, figsize=(10, 4), sharex=True)
    for tracker in dict.fromkeys(r.tracker for r in results):
        rows = sorted((r for r in results if r.tracker == tracker), key=x_of)
        xs = [x_of(r) for r in rows]
        for axis, metric in zip(axes, ("protection", "normal_accuracy")):
            rates = [100 * getattr(r, metric).rate for r in rows]
            low = [rate - 100 * getattr(r, metric).ci95[0] for rate, r in zip(rates, rows)]
            high = [100 * getattr(r, metric).ci95[1] - rate for rate, r in zip(rates, rows)]
            axis.errorbar(xs, rates, yerr=[low, high], marker="o", capsize=3, label=tracker)
    for axis, title in zip(axes, ("protection (%)", "normal accuracy (%)")):
        axis.set_title(title)
        axis.set_xlabel(x_label)
        axis.set_ylim(-2, 102)
        axis.grid(alpha=0.3)
        if ticks is not None:
            axis.set_xticks(range(len(ticks)), ticks, rotation=30, ha="right", fontsize=7)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    return figure


def curve_figure(curves: tuple[CostCurve, ...]) -> Figure:
    """Protection (left) and the control (right) against the copies' measured cost, a line per tracker and
    countermeasure, for the first scenario of a budget sweep."""
    first = curves[0]
    shown = [c for c in curves if (c.seed, c.leak_ratio, c.n_labels, c.n_distractors) ==
             (first.seed, first.leak_ratio, first.n_labels, first.n_distractors)]
    metric = "lpips" if all(cost_metric(c.points) == "lpips" for c in shown) else "dssim"
    from matplotlib.ticker import MaxNLocator

    figure, axes = pyplot().subplots(1, 2, figsize=(10, 4), sharex=True)
    for curve in shown:
        label = curve.tracker + ("" if curve.countermeasure == "none" else f" + {curve.countermeasure}")
        xs = [point_cost(p, metric) for p in curve.points]
        for axis, measure in zip(axes, ("protection", "control")):
            rates = [getattr(p, measure) for p in curve.points]
            ys = [100 * r.rate for r in rates]
            low = [y - 100 * r.ci95[0] for y, r in zip(ys, rates)]
            high = [100 * r.ci95[1] - y for y, r in zip(ys, rates)]
            axis.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=label)
    for axis, title in zip(axes, ("protection (%)", "control: protection without cloaks (%)")):
        axis.set_title(title)
        axis.set_xlabel(f"measured {metric.upper()} of the cloaked photos (mean)")
        axis.xaxis.set_major_locator(MaxNLocator(5))
        axis.set_ylim(-2, 102)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def roc_figure(detection: tuple[Detection, ...]) -> Figure | None:
    """ROC curves of the cloak detectors (protected classes positive), from their per-class scores."""
    from sklearn.metrics import roc_curve

    scored = [d for d in detection if d.auc is not None and d.per_class]
    if not scored:
        return None
    figure, axis = pyplot().subplots(figsize=(5, 4.5))
    for d in scored:
        fpr, tpr, _ = roc_curve([c.protected for c in d.per_class], [c.score for c in d.per_class])
        axis.plot(fpr, tpr, marker=".", label=f"{d.cloak_detector} on {d.extractor}, leak {d.leak_ratio} "
                                              f"(AUC {d.auc:.3f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.set_xlabel("false positive rate (clean classes flagged)")
    axis.set_ylabel("true positive rate (protected classes flagged)")
    axis.set_title("cloak detection ROC")
    axis.legend(fontsize=7, loc="lower right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def change_figure(cells: tuple[ComparedCell, ...]) -> Figure:
    """B − A protection per compared cell, with its 95% interval (`audit compare`)."""
    figure, axis = pyplot().subplots(figsize=(7, 0.5 + 0.45 * len(cells)))
    labels = [f"{c.tracker} / {c.countermeasure} / leak {c.leak_ratio}" for c in cells]
    changes = [100 * c.change for c in cells]
    low = [x - 100 * c.ci95[0] for x, c in zip(changes, cells)]
    high = [100 * c.ci95[1] - x for x, c in zip(changes, cells)]
    colours = ["tab:green" if c.verdict == "better" else "tab:red" if c.verdict == "worse" else "tab:grey"
               for c in cells]
    for row, (change, below, above, colour) in enumerate(zip(changes, low, high, colours)):
        axis.errorbar([change], [row], xerr=[[below], [above]], fmt="o", color=colour, capsize=3)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_yticks(range(len(cells)), labels, fontsize=7)
    axis.set_xlim(-102, 102)
    axis.set_xlabel("change in protection, B − A (points, 95% CI)")
    axis.invert_yaxis()
    axis.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    return figure
