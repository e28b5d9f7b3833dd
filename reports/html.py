"""One self-contained HTML file per run, verify and compare: verdict first, then the evidence.

No scripts, no fonts, no links out: every plot and photo is a `data:` URI, so the file opens
offline, can be mailed, and shows the same thing years later.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from audit.images import PhotoSkipped, encode_image, read_image
from audit.records import (BudgetCost, CellResult, CompareReport, CostCurve, Environment, ExamplePair, PooledResult,
                           RunReport, Skip, VerifyReport)
from audit.verdicts import VERDICT_MEANING, cell_verdict
from reports.compare import (EQUAL_COST_HEADER, EQUAL_COST_NOTE, cell_figures, comparison_headline, equal_cost_rows,
                             pairing_text, scenario_figures, scenario_header)
from reports.formatting import (BUDGET_HEADER, CURVE_HEADER, CURVE_NOTE, POOLED_HEADER, SWEPT, budget_figures,
                                cost_text, curve_rows, detection_figures, model_matrix, model_text, percent,
                                pooled_budgets_text, pooled_figures, pooled_title, precomputed_lines, rate_text,
                                run_title, short_model, swept_columns, swept_text, swept_values, tracker_labels)
from reports.plots import change_figure, png_bytes, roc_figure
from reports.verify import model_lines, naming_text, tracker_sentence

DIFFERENCE_GAIN = 10  # cloaks change pixels by a few levels; ×10 makes them visible

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1240px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.verdict { font-size: 1.15em; padding: 0.8em 1em; border-radius: 6px; margin: 0.5em 0; background: #f3f3f3; }
.good { background: #e3f4e3; } .bad { background: #fbe3e3; } .mixed { background: #fdf3d8; }
.whitebox { color: #777; font-style: italic; } .transfer { font-weight: bold; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
.wide { overflow-x: auto; max-width: 100%; } td code.spec { overflow-wrap: anywhere; } .label { white-space: nowrap; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } code, pre { background: #f6f6f6; font-size: 0.9em; }
pre { padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
figure { display: inline-block; margin: 0.4em; text-align: center; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; } .examples img { width: 180px; image-rendering: pixelated; }
.budgets img { width: auto; }  /* at the photo's own size: the cost is what a reader should see */
"""


def esc(value: object) -> str:
    return html.escape(str(value))


def page(title: str, sections: list[str]) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n")


def table(header: list[str], rows: list[list[str]], row_ids: list[str] | None = None) -> str:
    """Cells are HTML already (escape text with `esc`). A table wider than the page scrolls inside it."""
    head = "".join(f"<th>{h}</th>" for h in header)
    ids = [f' id="{row_id}"' for row_id in row_ids] if row_ids else [""] * len(rows)
    body = "".join(f"<tr{row_id}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row_id, row in zip(ids, rows))
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def figure_html(png: bytes, caption: str) -> str:
    return f'<figure><img src="{data_uri(png)}" alt="{esc(caption)}"><figcaption>{esc(caption)}</figcaption></figure>'


def verdict_box(text: str, tone: str) -> str:
    return f'<div class="verdict {tone}">{text}</div>'


def examples_section(pairs: tuple[ExamplePair, ...]) -> str:
    """Original, cloaked, and their difference amplified, read from the files now (they may be gone)."""
    figures, missing = [], []
    for pair in pairs:
        try:
            original, cloaked = read_image(pair.original), read_image(pair.cloaked)
        except (PhotoSkipped, OSError):
            missing.append(Path(pair.original).name)
            continue
        if original.shape != cloaked.shape:
            missing.append(Path(pair.original).name)
            continue
        difference = np.abs(cloaked.astype(np.int16) - original.astype(np.int16))
        amplified = np.clip(difference * DIFFERENCE_GAIN, 0, 255).astype(np.uint8)
        figures.append("".join(figure_html(encode_image(image), caption) for image, caption in
                               ((original, f"{pair.user or 'your photo'}: original"), (cloaked, "cloaked"),
                                (amplified, f"difference ×{DIFFERENCE_GAIN}"))))
    lines = ["<h2>Example photos</h2>"]
    lines += [f'<div class="examples">{row}</div>' for row in figures]
    if missing:
        lines.append(f"<p>Not shown (the files are no longer readable): {esc(', '.join(missing))}.</p>")
    if not pairs:
        lines.append("<p>No cloaked photos to show.</p>")
    return "\n".join(lines)


def environment_section(environment: Environment) -> str:
    packages = ", ".join(f"{name} {version}" for name, version in environment.packages.items() if version)
    return (f"<h2>Command and environment</h2><pre>{esc(environment.command_line)}</pre>"
            f"<p>Python {esc(environment.python)}; {esc(packages)}.</p>")


def skipped_section(skipped: tuple[Skip, ...]) -> str:
    if not skipped:
        return ""
    return f"<h2>Skipped ({len(skipped)})</h2>" + table(
        ["photo", "stage", "reason"], [[f"<code>{esc(s.path)}</code>", esc(s.stage), esc(s.reason)] for s in skipped])


def curve_section(report: RunReport, curve_png: bytes | None, tracker_cell) -> str:
    """A budget sweep: what each budget cost, the protection–cost plot, one photo at every budget, the curves."""
    parts = ["<h2>Protection against visibility</h2>", f"<p>{esc(CURVE_NOTE.replace('`', ''))}</p>",
             table(BUDGET_HEADER, [list(map(esc, budget_figures(b))) for b in report.budgets])]
    if curve_png is not None:
        parts.append(figure_html(curve_png, "protection and control against the copies' measured cost (first "
                                            "scenario); bars are 95% intervals"))
    parts.append(budget_examples_html(report.budgets))
    for curve in report.curves or ():
        where = "" if curve.countermeasure == "none" else f" with {esc(curve.countermeasure)}"
        parts += [f"<p>{tracker_cell(curve.tracker)}{where} ({model_html(curve)}), seed {esc(curve.seed)}, leak "
                  f"ratio {esc(curve.leak_ratio)}, {curve.n_labels} labels</p>",
                  table(CURVE_HEADER, [list(map(esc, row)) for row in curve_rows(curve)])]
    return "\n".join(parts)


def budget_examples_html(budgets: tuple[BudgetCost, ...]) -> str:
    """One original and its copy at every budget, side by side: what each cost looks like."""
    shown = [b for b in budgets if b.example is not None]
    if not shown:
        return "<p>No cloaked photo to show.</p>"
    try:
        original = read_image(shown[0].example.original)
        copies = [(b, read_image(b.example.cloaked)) for b in shown]
    except (PhotoSkipped, OSError):
        return "<p>The example photos are no longer readable.</p>"
    figures = [figure_html(encode_image(original), f"{shown[0].example.user or 'photo'}: original")]
    for budget, copy in copies:
        cost = budget.perturbation
        measured = f"LPIPS {cost.lpips_mean:.3f}" if cost.lpips_mean is not None else f"DSSIM {cost.dssim_mean:.4f}"
        figures.append(figure_html(encode_image(copy), f"budget {budget.budget} (copies' mean {measured})"))
    return '<div class="examples budgets">' + "".join(figures) + "</div>"


def model_html(result: CellResult | PooledResult | CostCurve) -> str:
    """The tracker model, with white-box and transfer cells told apart at a glance."""
    text = model_text(result)
    kind = "" if result.transfer is None else "transfer" if result.transfer else "whitebox"
    return f'<span class="{kind}">{esc(text)}</span>' if kind else esc(text)


def model_matrix_section(results: tuple[CellResult, ...]) -> str:
    """Cloak model × tracker model protection, for a run over several extractors (else nothing)."""
    matrix = model_matrix(results)
    if matrix is None:
        return ""
    rows, columns, cells = matrix
    return ("<h2>Cloak model × tracker model</h2><p>Protection with no countermeasure. The diagonal, where the "
            "tracker uses a model the cloak was optimised against, is a white-box self-check; every other cell "
            "asks whether the cloak transfers.</p>" + table(
                ["cloak optimised against", *(f"<code>{esc(short_model(c))}</code>" for c in columns)],
                [[f"<code>{esc(row)}</code>", *("<br>".join(esc(x) for x in cells.get((row, c), ["—"]))
                                               for c in columns)] for row in rows]))


def run_tone(result: CellResult) -> str:
    return "good" if cell_verdict(result).startswith("protects") else "bad"


def render_run_html(report: RunReport, sweeps: list[tuple[str, bytes]]) -> str:
    """`sweeps`: the (axis, PNG) sweep plots, rendered once for report.md and this page."""
    cloaker, protocol, cost = report.cloaker, report.protocol, report.perturbation
    results = report.results
    notes = cloaker.notes or {}
    swept = swept_columns(results)
    told_apart = [key for key in swept if key not in ("leak_ratio", "n_labels")]  # the results table shows those
    per_user_apart = [key for key in swept if key != "leak_ratio"]
    labels = tracker_labels(report.trackers)
    anchors = {spec: f"tracker-{i}" for i, spec in enumerate(report.trackers, start=1)}

    def tracker_cell(spec: str) -> str:
        return f'<a class="label" href="#{anchors[spec]}"><code>{esc(labels[spec])}</code></a>'

    sections = [f"<h1>cloak-audit: {esc(run_title(report) if report.trackers else cloaker.name)}</h1>"]
    if report.stopped:
        sections.append(verdict_box(f"<b>Incomplete run</b>: it stopped ({esc(report.stopped)}); only the results "
                                    "finished before are shown.", "mixed"))
    for r in results:
        where = "" if r.countermeasure == "none" else f" with {esc(r.countermeasure)}"
        sections.append(verdict_box(
            f"<b>{esc(labels[r.tracker])}</b>{where}{esc(swept_text(r, told_apart))}, leak ratio "
            f"{esc(r.leak_ratio)}: protection "
            f"<b>{esc(rate_text(r.protection))}</b>, control {esc(rate_text(r.control))} — "
            f"<b>{esc(cell_verdict(r))}</b>", run_tone(r)))
    sections += [
        f"<p>Cloaker <b>{esc(cloaker.name)}</b> ({esc(cloaker.implementation)}; "
        f"{esc(', '.join(f'{k}={v}' for k, v in cloaker.params.items()) or 'no options')}). Dataset "
        f"<code>{esc(protocol.dataset)}</code>, seed {esc(protocol.seed)}: {len(protocol.users)} protected "
        f"users ({esc(protocol.isolation)}), {protocol.n_labels} identities, {protocol.n_train_photos} "
        f"training and {protocol.n_test_photos} test photos.</p>",
        *([f"<p>Substitution — {esc(notes['substitution'])}.</p>"] if "substitution" in notes else []),
        *[f"<p>{esc(line.replace('`', ''))}</p>" for line in precomputed_lines(notes)],
        "<h2>Results</h2>",
        "<p>Protection: the share of a protected user's uncloaked test photos the tracker does not identify "
        "(top-1). Control: the same tracker trained on uncloaked photos. 95% intervals that count both the users "
        "and their photos (Korn–Graubard).</p>",
        table(["tracker", "tracker model", "countermeasure", *(SWEPT[k] for k in told_apart), "leak ratio", "labels",
               "protection", "control", "normal accuracy", "rank-k protection", "verdict"],
              [[tracker_cell(r.tracker), model_html(r), esc(r.countermeasure),
                *map(esc, swept_values(r, told_apart)), esc(r.leak_ratio), esc(r.n_labels),
                esc(rate_text(r.protection)), esc(rate_text(r.control)), esc(rate_text(r.normal_accuracy)),
                esc(f"{rate_text(r.rank_k.protection)} (k={r.rank_k.k})" if r.rank_k else "—"),
                esc(cell_verdict(r))] for r in results]),
        "<h2>Trackers</h2>",
        table(["tracker", "full spec", "face model"],
              [[f"<code>{esc(labels[spec])}</code>", f'<code class="spec">{esc(spec)}</code>',
                esc(next(r.tracker_extractor or "—" for r in results if r.tracker == spec))]
               for spec in report.trackers], row_ids=[anchors[spec] for spec in report.trackers]),
    ]
    if report.pooled:
        sections.append(f"<h2>{esc(pooled_title(report).capitalize())}</h2>"
                        "<p>Pooled: every seed's test photos, users counted once however many seeds drew them. "
                        "Mean over seeds: the per-seed rates' mean with Student's t interval.</p>" + table(
                            ["tracker", "tracker model", "countermeasure", "leak ratio", "labels", *POOLED_HEADER],
                            [[tracker_cell(p.tracker), model_html(p), esc(p.countermeasure),
                              esc(p.leak_ratio), esc(p.n_labels), *map(esc, pooled_figures(p))]
                             for p in report.pooled]))
    sections.append(model_matrix_section(results))
    if report.budgets:
        sections.append(curve_section(report, dict(sweeps).get("budget"), tracker_cell))
    if others := [(axis, png) for axis, png in sweeps if axis != "budget"]:
        sections.append("<h2>Sweeps</h2>" + "".join(figure_html(png, f"swept: {axis}") for axis, png in others))
    if report.detection:
        sections.append("<h2>Cloak detection</h2>" + table(
            ["cloak detector", "features of", "leak ratio", "ROC AUC", "TPR at 5% FPR", "TP", "FN", "FP", "TN"],
            [[f"<code>{esc(d.cloak_detector)}</code>", f"<code>{esc(d.extractor)}</code>", esc(d.leak_ratio),
              *detection_figures(d)] for d in report.detection]))
        roc = roc_figure(report.detection)
        if roc is not None:
            sections.append(figure_html(png_bytes(roc), "ROC: protected classes flagged vs clean classes flagged"))
    sections += [
        "<h2>Perceptual cost</h2>",
        f"<p>{esc(cost_text(cost))}, each measured on the whole photo as posted"
        f"{esc(pooled_budgets_text(report))}.</p>",
        examples_section(report.examples),
        "<h2>Per user</h2>",
        table(["tracker", "countermeasure", *(SWEPT[k] for k in per_user_apart), "leak ratio", "user",
               "test photos", "protection", "control"],
              [[tracker_cell(r.tracker), esc(r.countermeasure), *map(esc, swept_values(r, per_user_apart)),
                esc(r.leak_ratio), esc(u.user),
                str(u.n_test), percent(u.protection), percent(u.control)] for r in results for u in r.per_user]),
        skipped_section(report.skipped),
        environment_section(report.environment),
    ]
    return page(f"cloak-audit: {cloaker.name}", sections)


VERIFY_TONES = {"PROTECTED": "good", "PARTLY PROTECTED": "mixed", "NOT PROTECTED": "bad", "INCONCLUSIVE": "mixed"}


def render_verify_html(record: VerifyReport) -> str:
    person, crowd = record.person, record.crowd
    sections = ["<h1>Does this cloak protect me?</h1>",
                verdict_box(f"<b>{esc(record.verdict)}</b>: {esc(VERDICT_MEANING[record.verdict])}.",
                            VERIFY_TONES[record.verdict])]
    sections += [f"<p><b>{esc(line)}</b></p>" for line in model_lines(record)]
    sections += [f"<p>{esc(tracker_sentence(r)).replace('**', '')}</p>" for r in record.results]
    if person.identical_copies:
        sections.append(verdict_box(
            f"<b>Warning</b>: {person.identical_copies} of your {person.n_usable} “cloaked” photos have "
            "exactly the pixels of the originals: they carry no cloak.", "bad"))
    sections += [
        "<h2>Caveats</h2><ul>" + "".join(f"<li>{esc(c)}</li>" for c in record.caveats) + "</ul>",
        "<h2>How this was tested</h2>",
        f"<p>Your {person.n_usable} photos with a face joined a crowd of {crowd.n_identities} people from "
        f"<code>{esc(crowd.dataset)}</code>. In each of {person.folds} rounds the tracker collected the cloaked "
        "copies of your other photos and was asked who is in this round's photos, which it had never seen. The "
        "control posts your originals instead. Intervals are Wilson's over your photos.</p>",
        *([f"<p>{esc(naming_text(person))}</p>"] if person.naming else []),
        f"<p>Perceptual cost of your cloaks (whole photo, as posted): {esc(cost_text(record.perturbation))}.</p>",
        table(["tracker", "countermeasure", "tries", "hidden (protection)", "control", "normal accuracy", "verdict"],
              [[f"<code>{esc(r.tracker)}</code>", esc(r.countermeasure), str(r.tries),
                esc(rate_text(r.protection)), esc(rate_text(r.control)), esc(percent(r.normal_accuracy.rate)),
                f"<b>{esc(r.verdict)}</b>"] for r in record.results]),
        examples_section(record.examples),
        skipped_section(record.skipped),
        environment_section(record.environment),
    ]
    return page("cloak-audit: does this cloak protect me?", sections)


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
