"""How rates read in every report: `87.5% [80.1, 92.6]`."""

from __future__ import annotations

import math
from pathlib import Path

from audit.options import parse_spec
from audit.records import (BudgetCost, CellResult, CostCurve, Detection, OverSeeds, Perturbation, PooledRate,
                           PooledResult, Rate, RunReport, Skip)


def percent(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def rate_text(record: Rate | PooledRate) -> str:
    return interval_text(record.rate, record.ci95)


def interval_text(value: float, ci95: tuple[float, float]) -> str:
    lo, hi = ci95
    if any(v is None or math.isnan(v) for v in (value, lo, hi)):
        return "n/a"
    return f"{percent(value)} [{100 * lo:.1f}, {100 * hi:.1f}]"


def model_text(result: CellResult | PooledResult | CostCurve) -> str:
    """The tracker's face model and how it relates to the cloak: `mobilefacenet (transfer)` when the
    cloak was not optimised against it, `dlib-resnet (white-box)` when it was."""
    if result.tracker_extractor is None:
        return "?"  # a report from before results named their models
    return f"{short_model(result.tracker_extractor)} ({'transfer' if result.transfer else 'white-box'})"


def model_matrix(results: tuple[CellResult, ...]
                 ) -> tuple[list[str], list[str], dict[tuple[str, str], list[str]]] | None:
    """Protection with no countermeasure by cloak model (rows) × tracker model (columns), each cell
    listing the trackers on that model: the transfer picture of a run over several extractors.
    None when the run used one tracker model."""
    plain = [r for r in results if r.countermeasure == "none" and r.tracker_extractor is not None]
    columns = list(dict.fromkeys(r.tracker_extractor for r in plain))
    if len(columns) < 2:
        return None

    def cloak_model(r: CellResult) -> str:
        return " + ".join(r.cloak_extractors) or "unknown"

    rows = list(dict.fromkeys(map(cloak_model, plain)))
    swept = swept_columns(tuple(plain))
    cells: dict[tuple[str, str], list[str]] = {}
    for r in plain:
        kind = r.tracker.split(":")[0] + (f"{swept_text(r, swept)} —" if swept else "")
        mark = "" if r.transfer else " (white-box)"
        cells.setdefault((cloak_model(r), r.tracker_extractor), []).append(f"{kind} {rate_text(r.protection)}{mark}")
    return rows, columns, cells


def detection_figures(record: Detection) -> list[str]:
    """ROC AUC, TPR at 5% FPR and the confusion counts of a detection record, as table cells."""
    confusion = record.confusion
    return ["n/a" if record.auc is None else f"{record.auc:.3f}",
            "n/a" if record.tpr_at_5fpr is None else percent(record.tpr_at_5fpr),
            *map(str, (confusion.true_positives, confusion.false_negatives, confusion.false_positives,
                       confusion.true_negatives))]


SWEPT = {"seed": "seed", "leak_ratio": "leak ratio", "n_labels": "labels", "n_distractors": "distractors",
         "budget": "budget"}
POOLED_HEADER = ["protection, pooled", "protection, mean over seeds", "control, pooled",
                 "normal accuracy, mean over seeds"]


def swept_columns(results: tuple[CellResult, ...]) -> list[str]:
    """The scenario fields that vary across results (a seed, leak-ratio, label or distractor sweep), as table
    columns."""
    return [key for key in SWEPT if len({getattr(r, key) for r in results}) > 1]


def swept_values(result: CellResult | PooledResult, swept: list[str]) -> list[str]:
    """The result's values of the swept fields, as table cells."""
    return [str(getattr(result, key)) for key in swept]


def swept_text(result: CellResult | PooledResult, swept: list[str]) -> str:
    """`, budget lpips:0.02, seed 1`: the swept fields that tell this result from the others in one line."""
    return "".join(f", {SWEPT[key]} {getattr(result, key)}" for key in swept)


def over_seeds_text(record: OverSeeds) -> str:
    """`61.2% [40.3, 82.1] (3 seeds)`: the mean of per-seed rates with Student's t interval over seeds."""
    return f"{interval_text(record.mean, record.ci95)} ({record.n_seeds} seeds)"


def pooled_figures(pooled: PooledResult) -> list[str]:
    """The cells under POOLED_HEADER for one record pooled over seeds."""
    return [rate_text(pooled.protection), over_seeds_text(pooled.protection.over_seeds),
            rate_text(pooled.control), over_seeds_text(pooled.normal_accuracy)]


def pooled_title(report: RunReport) -> str:
    return f"pooled over seeds {', '.join(map(str, report.pooled[0].seeds))}"


def run_headline(report: RunReport) -> str:
    """One line for the history: each result's protection and control (with the swept fields)."""
    swept = swept_columns(report.results)
    parts = []
    for r in report.results:
        name = r.name + swept_text(r, swept)
        parts.append(f"{name}: {percent(r.protection.rate)} (control {percent(r.control.rate)})")
    text = "; ".join(parts) if parts else "no results"
    return ("stopped early: " if report.stopped else "") + text


def precomputed_lines(notes: dict | None) -> list[str]:
    """What a `precomputed` cloaker found in its folder: copies used, unused, missing and stray."""
    if not notes or "copies" not in notes:
        return []
    stray = notes["not_in_dataset"]
    naming = ", ".join(f"{rule} ({n})" for rule, n in notes.get("naming", {}).items())
    return [f"Precomputed copies in `{notes['dir']}`: {notes['copies']} found, {notes['used']} used, "
            f"{notes['unused']} unused, {notes['missing']} needed but missing (skipped)"
            + (f"; {len(stray)} match no photo of the data set (e.g. `{stray[0]}`)" if stray else "")
            + (f"; matched by the naming rule {naming}" if naming else "") + "."]


LABEL_CHARS = 48  # a tracker's label in tables; its full spec is listed once, in the Trackers table
NESTED = ("extractor", "face_detector", "cloak_detector")  # options whose value is a plugin spec of its own


def short_model(spec: str) -> str:
    """A model (or any plugin nested in a spec) by its file's name when it has one (`w600k_r50.onnx` for
    `onnx:path=/srv/models/w600k_r50.onnx`), else as written (`faceres:margin=0.2`)."""
    parsed = parse_spec(spec)
    file = parsed.positional or parsed.options.get("path") or parsed.options.get("weights")
    return Path(file).name if file else spec


def short_label(spec: str) -> str:
    """`linear-probe · arcface_r100.onnx` for `linear-probe:extractor=[onnx:/models/arcface_r100.onnx,size=112]`:
    the tracker, then each option's value, a nested model by its name or its file's name, paths by file name."""
    parsed = parse_spec(spec)
    parts = [parsed.name] + ([Path(parsed.positional).name] if parsed.positional else [])
    for key, value in parsed.options.items():
        if key in NESTED:
            parts.append(short_model(value))
        else:
            parts.append(f"{key}={Path(value).name if '/' in value else value}")
    label = " · ".join(parts)
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def tracker_labels(specs: list[str]) -> dict[str, str]:
    """A readable, unique label per tracker spec (`short_label`); a label two specs would share gets a number."""
    labels: dict[str, str] = {}
    for spec in specs:
        label = short_label(spec)
        unique, n = label, 1
        while unique in labels.values():
            n += 1
            unique = f"{label} ({n})"
        labels[spec] = unique
    return labels


def run_title(report: RunReport) -> str:
    """`fawkes against 8 trackers`, or against the one tracker's label: a heading of one line."""
    trackers = report.trackers
    against = tracker_labels(trackers)[trackers[0]] if len(trackers) == 1 else f"{len(trackers)} trackers"
    return f"{report.cloaker.name} against {against}"


def cost_text(cost: Perturbation) -> str:
    """`40 cloaked photos: LPIPS mean 0.0412, max 0.0498; DSSIM mean …; PSNR mean …; L2 mean …; Linf max …; 0.90 s
    per photo`: one sentence for every report (LPIPS where it was measured, seconds where the cloaker was timed)."""
    psnr = "n/a" if cost.psnr_mean is None else f"{cost.psnr_mean:.1f} dB"
    lpips = "" if cost.lpips_mean is None else f"LPIPS mean {cost.lpips_mean:.4f}, max {cost.lpips_max:.4f}; "
    seconds = "" if cost.seconds_per_photo is None else f"; {cost.seconds_per_photo:.2f} s per photo"
    return (f"{cost.n_photos} cloaked photos: {lpips}DSSIM mean {cost.dssim_mean:.4f}, max {cost.dssim_max:.4f}; "
            f"PSNR mean {psnr}; L2 mean {cost.l2_mean:.2f}; Linf max {cost.linf_max:.0f}{seconds}")


def pooled_budgets_text(report: RunReport) -> str:
    """Said after a budget sweep's cost sentence, which pools copies made at different budgets."""
    return (f" (all {len(report.budgets)} budgets pooled; each budget's own cost is under Protection against "
            "visibility)") if report.budgets else ""


CURVE_HEADER = ["budget", "LPIPS", "DSSIM", "protection", "control", "normal accuracy"]
BUDGET_HEADER = ["budget", "copies", "LPIPS mean (max)", "DSSIM mean (max)", "s per photo"]
CURVE_NOTE = ("Each budget bounds the cost of every saved copy, measured on the whole photo as posted; the cost "
              "columns are what that budget's copies measured (means). Compare cloaks at the same measured cost "
              "(`audit compare` reads both curves there), never at a budget's name alone: a cloak may spend less "
              "than its budget.")


def budget_figures(budget: BudgetCost) -> list[str]:
    """A budget's row: its measured cost (mean and max) and the cloaker's seconds per photo."""
    cost = budget.perturbation
    lpips = "n/a" if cost.lpips_mean is None else f"{cost.lpips_mean:.4f} ({cost.lpips_max:.4f})"
    seconds = "n/a" if cost.seconds_per_photo is None else f"{cost.seconds_per_photo:.2f}"
    return [budget.budget, str(cost.n_photos), lpips, f"{cost.dssim_mean:.4f} ({cost.dssim_max:.4f})", seconds]


def curve_rows(curve: CostCurve) -> list[list[str]]:
    """A curve's points as table cells under CURVE_HEADER."""
    return [[p.budget, "n/a" if p.lpips is None else f"{p.lpips:.4f}", f"{p.dssim:.4f}", rate_text(p.protection),
             rate_text(p.control), rate_text(p.normal_accuracy)] for p in curve.points]


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines (the one table writer of every Markdown document)."""
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header)] + [f"| {' | '.join(row)} |" for row in rows]


def skipped_lines(skipped: tuple[Skip, ...]) -> list[str]:
    """The photos left out, where and why (nothing when none were)."""
    if not skipped:
        return []
    return ["", f"## Skipped ({len(skipped)})", "",
            *markdown_table(["photo", "stage", "reason"], [[f"`{s.path}`", s.stage, s.reason] for s in skipped])]
