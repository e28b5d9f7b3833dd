"""A run's documents: `report.md` (the figures as a person reads them) and the self-contained `report.html`
(verdicts first, then tables, plots and example photos)."""

from __future__ import annotations

from audit.images import PhotoSkipped, encode_image, read_image
from audit.records import BudgetCost, CellResult, CloudUse, CostCurve, PooledResult, RunReport
from audit.verdicts import cell_verdict
from reports.formatting import (BUDGET_HEADER, CURVE_HEADER, CURVE_NOTE, POOLED_HEADER, SWEPT, budget_figures,
                                cost_text, curve_rows, detection_figures, markdown_table, model_matrix, model_text,
                                percent, pooled_budgets_text, pooled_figures, pooled_title, precomputed_lines,
                                rate_text, run_title, short_model, skipped_lines, swept_columns, swept_text,
                                swept_values, tracker_labels)
from reports.html import (environment_section, esc, examples_section, figure_html, page, skipped_section, table,
                          verdict_box)
from reports.plots import png_bytes, roc_figure


def render_run_markdown(report: RunReport, plots: list[str] = ()) -> str:
    """The report as Markdown; `plots` are sweep PNGs beside it, shown under the results table."""
    cloaker, cost, protocol = report.cloaker, report.perturbation, report.protocol
    params = ", ".join(f"{k}={v}" for k, v in cloaker.params.items()) or "no options"
    notes = cloaker.notes or {}
    swept = swept_columns(report.results)
    lead_header = ["tracker", "tracker model", "countermeasure", *(SWEPT[k] for k in swept)]
    labels = tracker_labels(report.trackers)

    def lead(result: CellResult) -> list[str]:
        """The cells that say which result a row belongs to."""
        return [f"`{labels[result.tracker]}`", model_text(result), result.countermeasure,
                *swept_values(result, swept)]

    def rank_text(result: CellResult) -> str:
        rank = result.rank_k
        return f"{rate_text(rank.protection)} (k={rank.k})" if rank else "—"

    lines = [
        "# cloak-audit report",
        "",
        *([f"**Incomplete run** — it stopped ({report.stopped}); only the results finished before are below.",
           ""] if report.stopped else []),
        f"Cloaker **{cloaker.name}** ({cloaker.implementation}; {params}).",
        *[f"Cloak target for {user}: {note['target']}." for user, note in (cloaker.per_user or {}).items()
          if "target" in note],
        *precomputed_lines(notes),
        *([f"Substitution — {notes['substitution']}."] if "substitution" in notes else []),
        f"Dataset `{protocol.dataset}`, seed {protocol.seed}: {len(protocol.users)} protected users "
        f"({protocol.isolation}), {protocol.n_labels} identities, {protocol.n_train_photos} training and "
        f"{protocol.n_test_photos} test photos, leak ratio {protocol.leak_ratio}.",
        *([f"Search galleries also hold distractor identities from `{protocol.distractors}`, never protected "
           f"users: {', '.join(map(str, sorted({r.n_distractors for r in report.results})))}."]
          if protocol.distractors else []),
        *(["Swept: " + "; ".join((f"seed {s.seed}, " if len({x.seed for x in protocol.sweep}) > 1 else "")
                                 + f"leak ratio {s.leak_ratio} with {s.n_labels} identities"
                                 + (f" and {s.n_distractors} distractors" if s.n_distractors else "")
                                 + f" ({s.n_leaked_photos} leaked photos)" for s in protocol.sweep) + "."]
          if protocol.sweep else []),
        "",
        "Protection = share of a protected user's *uncloaked* test photos the tracker does not identify "
        "(top-1). The control is the same tracker trained on uncloaked photos. Intervals are 95% and count "
        "both the users and their photos (Korn–Graubard, see the README's Verdicts). *White-box*: the "
        "tracker's model is one the cloak was optimised against (a self-check); *transfer*: it is not (the "
        "question a tracker with its own model asks).",
        "",
        *markdown_table(lead_header + ["protection", "control", "normal accuracy", "rank-k protection", "verdict"],
                        [lead(r) + [rate_text(r.protection), rate_text(r.control), rate_text(r.normal_accuracy),
                                    rank_text(r), cell_verdict(r)] for r in report.results]),
        *(["", "Trackers by their full spec:", "",
           *markdown_table(["tracker", "full spec"],
                           [[f"`{labels[spec]}`", f"`{spec}`"] for spec in report.trackers])]
          if any(label != spec for spec, label in labels.items()) else []),
    ]
    if report.pooled:
        unswept = [k for k in swept if k != "seed"]
        lines += ["", f"## {pooled_title(report).capitalize()}", "",
                  "Pooled: every seed's test photos, users counted once however many seeds drew them. Mean over "
                  "seeds: the per-seed rates' mean with Student's t interval, how much the draw matters.", "",
                  *markdown_table(["tracker", "tracker model", "countermeasure", *(SWEPT[k] for k in unswept),
                                   *POOLED_HEADER],
                                  [[f"`{labels[p.tracker]}`", model_text(p), p.countermeasure,
                                    *swept_values(p, unswept), *pooled_figures(p)] for p in report.pooled])]
    matrix = model_matrix(report.results)
    if matrix:
        rows, columns, cells = matrix
        lines += ["", "## Cloak model × tracker model", "",
                  *markdown_table(["cloak optimised against", *(f"`{short_model(c)}`" for c in columns)],
                                  [[f"`{row}`", *("; ".join(cells.get((row, c), ["—"])) for c in columns)]
                                   for row in rows])]
    if report.budgets:
        lines += curve_lines(report, labels)
    if plots:
        lines += ["", "## Sweeps", ""] + [f"![{name}]({name})" for name in plots]
    lines += adaptive_lines(report.results, lead_header, lead, labels)
    lines += [
        "",
        "## Perceptual cost of the cloaks",
        "",
        f"{cost_text(cost)}{pooled_budgets_text(report)}.",
        "",
        "## Per user",
        "",
        *markdown_table(lead_header + ["user", "test photos", "protection", "control"],
                        [lead(r) + [u.user, str(u.n_test), percent(u.protection), percent(u.control)]
                         for r in report.results for u in r.per_user]),
    ]
    if report.detection:
        lines += ["", "## Cloak detection", "",
                  "Protected classes are positives; scores are in robust standard deviations (median and MAD) "
                  "of the other classes'.", "",
                  *markdown_table(["cloak detector", "features of", "leak ratio", "labels", "ROC AUC",
                                   "TPR at 5% FPR", "TP", "FN", "FP", "TN"],
                                  [[f"`{d.cloak_detector}`", f"`{d.extractor}`", str(d.leak_ratio), str(d.n_labels),
                                    *detection_figures(d)] for d in report.detection])]
    if report.cloud:
        lines += cloud_lines(report.cloud)
    lines += skipped_lines(report.skipped)
    return "\n".join(lines) + "\n"


def curve_lines(report: RunReport, labels: dict[str, str]) -> list[str]:
    """A budget sweep: what each budget's copies cost, then protection against that cost per tracker."""
    lines = ["", "## Protection against visibility", "", CURVE_NOTE, "",
             *markdown_table(BUDGET_HEADER, [budget_figures(b) for b in report.budgets])]
    for curve in report.curves or ():
        where = "" if curve.countermeasure == "none" else f" with {curve.countermeasure}"
        lines += ["", f"`{labels[curve.tracker]}`{where} ({model_text(curve)}), seed {curve.seed}, leak ratio "
                      f"{curve.leak_ratio}, {curve.n_labels} labels:", "",
                  *markdown_table(CURVE_HEADER, curve_rows(curve))]
    return lines


def adaptive_lines(results: tuple[CellResult, ...], lead_header: list[str], lead,
                   labels: dict[str, str]) -> list[str]:
    """What the adaptive trackers did: photos dropped per training set, and how the extractor was retrained."""
    lines = []
    dropping = [r for r in results if r.dropped]
    if dropping:
        lines += ["", "## Photos dropped by adaptive trackers", "",
                  "Per training set (the control, then each protected user's): photos dropped, of which cloaked.", "",
                  *markdown_table(lead_header + ["training set", "dropped", "of which cloaked"],
                                  [lead(r) + [fit, str(d.photos), str(d.cloaked)]
                                   for r in dropping for fit, d in r.dropped.items()])]
    for r in results:
        notes = r.countermeasure_notes
        if notes:
            lines += ["", f"{r.countermeasure} for `{labels[r.tracker]}`: "
                      + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in notes.items()) + "."]
    return lines


def cloud_lines(cloud: CloudUse) -> list[str]:
    """What the cloud trackers spent and whether everything they created is gone."""
    calls = ", ".join(f"{provider} {n:,}" for provider, n in cloud.api_calls.items()) or "none"
    limit = f" (limit {cloud.max_api_calls:,})" if cloud.max_api_calls else ""
    left = (f"**Left behind: {', '.join(cloud.leftovers)}** — run `audit cloud cleanup --provider P`."
            if cloud.leftovers else "Nothing was left behind.")
    return ["", "## Cloud", "",
            f"Run id `{cloud.run_id}`. API calls: {calls}{limit}. Galleries created {len(cloud.created)}, "
            f"deleted {len(cloud.deleted)}. {left}"]


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
