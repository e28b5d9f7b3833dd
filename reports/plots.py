"""Sweep curves beside `report.md`: protection and normal accuracy against the swept setting.

One PNG per swept axis: the leak ratio, the label count, and each countermeasure family
(`blur`, `jpeg`, ...) with `none` as its first point. A curve is one tracker; error bars are
the 95% intervals of the report.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or servers
import matplotlib.pyplot as plt  # noqa: E402


def sweep_plots(report: dict, out_dir: Path) -> list[Path]:
    """Write one plot per swept axis; return their paths (none when nothing was swept)."""
    results = report["results"]
    if not results:
        return []
    first = results[0]
    written = []
    axes = (("leak_ratio", "leak ratio"), ("n_labels", "identities known to the tracker"))
    for key, label in axes:
        if len({r[key] for r in results}) > 1:  # the other scenario axis held at the first value
            held = [other for other, _ in axes if other != key]
            fixed = [r for r in results if r["countermeasure"] == "none" and all(r[h] == first[h] for h in held)]
            written.append(_plot(fixed, lambda r, k=key: r[k], label, out_dir / f"sweep-{key}.png"))
    first_scenario = [r for r in results if all(r[key] == first[key] for key, _ in axes)]
    families = sorted({r["countermeasure"].split(":")[0] for r in first_scenario} - {"none"})
    for family in families:
        chosen = [r for r in first_scenario
                  if r["countermeasure"] == "none" or r["countermeasure"].split(":")[0] == family]
        order = list(dict.fromkeys(r["countermeasure"] for r in chosen))
        written.append(_plot(chosen, lambda r, o=order: o.index(r["countermeasure"]), f"countermeasure ({family})",
                             out_dir / f"sweep-{family}.png", ticks=order))
    return written


def _plot(results: list[dict], x_of, x_label: str, path: Path, ticks: list[str] | None = None) -> Path:
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for tracker in dict.fromkeys(r["tracker"] for r in results):
        rows = sorted((r for r in results if r["tracker"] == tracker), key=x_of)
        xs = [x_of(r) for r in rows]
        for axis, metric in zip(axes, ("protection", "normal_accuracy")):
            rates = [100 * r[metric]["rate"] for r in rows]
            low = [rate - 100 * r[metric]["ci95"][0] for rate, r in zip(rates, rows)]
            high = [100 * r[metric]["ci95"][1] - rate for rate, r in zip(rates, rows)]
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
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
