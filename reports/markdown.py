"""`report.md`: the run's figures as a person reads them."""

from __future__ import annotations

from audit.records import CellResult, CloudUse, RunReport, Skip
from audit.verdicts import cell_verdict
from reports.formatting import (BUDGET_HEADER, CURVE_HEADER, CURVE_NOTE, POOLED_HEADER, SWEPT, budget_figures,
                                cost_text, curve_rows, detection_figures, model_matrix, model_text, percent,
                                pooled_budgets_text, pooled_figures, pooled_title, precomputed_lines, rate_text,
                                short_model, swept_columns, swept_values, tracker_labels)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines."""
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header)] + [f"| {' | '.join(row)} |" for row in rows]


def render_markdown(report: RunReport, plots: list[str] = ()) -> str:
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
        *table(lead_header + ["protection", "control", "normal accuracy", "rank-k protection", "verdict"],
               [lead(r) + [rate_text(r.protection), rate_text(r.control), rate_text(r.normal_accuracy),
                           rank_text(r), cell_verdict(r)] for r in report.results]),
        *(["", "Trackers by their full spec:", "",
           *table(["tracker", "full spec"], [[f"`{labels[spec]}`", f"`{spec}`"] for spec in report.trackers])]
          if any(label != spec for spec, label in labels.items()) else []),
    ]
    if report.pooled:
        unswept = [k for k in swept if k != "seed"]
        lines += ["", f"## {pooled_title(report).capitalize()}", "",
                  "Pooled: every seed's test photos, users counted once however many seeds drew them. Mean over "
                  "seeds: the per-seed rates' mean with Student's t interval, how much the draw matters.", "",
                  *table(["tracker", "tracker model", "countermeasure", *(SWEPT[k] for k in unswept), *POOLED_HEADER],
                         [[f"`{labels[p.tracker]}`", model_text(p), p.countermeasure, *swept_values(p, unswept),
                           *pooled_figures(p)] for p in report.pooled])]
    matrix = model_matrix(report.results)
    if matrix:
        rows, columns, cells = matrix
        lines += ["", "## Cloak model × tracker model", "",
                  *table(["cloak optimised against", *(f"`{short_model(c)}`" for c in columns)],
                         [[f"`{row}`", *("; ".join(cells.get((row, c), ["—"])) for c in columns)] for row in rows])]
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
        *table(lead_header + ["user", "test photos", "protection", "control"],
               [lead(r) + [u.user, str(u.n_test), percent(u.protection), percent(u.control)]
                for r in report.results for u in r.per_user]),
    ]
    if report.detection:
        lines += ["", "## Cloak detection", "",
                  "Protected classes are positives; scores are in robust standard deviations (median and MAD) "
                  "of the other classes'.", "",
                  *table(["cloak detector", "features of", "leak ratio", "labels", "ROC AUC", "TPR at 5% FPR", "TP",
                          "FN", "FP", "TN"],
                         [[f"`{d.cloak_detector}`", f"`{d.extractor}`", str(d.leak_ratio), str(d.n_labels),
                           *detection_figures(d)] for d in report.detection])]
    if report.cloud:
        lines += cloud_lines(report.cloud)
    lines += skipped_lines(report.skipped)
    return "\n".join(lines) + "\n"


def curve_lines(report: RunReport, labels: dict[str, str]) -> list[str]:
    """A budget sweep: what each budget's copies cost, then protection against that cost per tracker."""
    lines = ["", "## Protection against visibility", "", CURVE_NOTE, "",
             *table(BUDGET_HEADER, [budget_figures(b) for b in report.budgets])]
    for curve in report.curves or ():
        where = "" if curve.countermeasure == "none" else f" with {curve.countermeasure}"
        lines += ["", f"`{labels[curve.tracker]}`{where} ({model_text(curve)}), seed {curve.seed}, leak ratio "
                      f"{curve.leak_ratio}, {curve.n_labels} labels:", "", *table(CURVE_HEADER, curve_rows(curve))]
    return lines


def skipped_lines(skipped: tuple[Skip, ...]) -> list[str]:
    """The photos left out, where and why (nothing when none were)."""
    if not skipped:
        return []
    return ["", f"## Skipped ({len(skipped)})", "",
            *table(["photo", "stage", "reason"], [[f"`{s.path}`", s.stage, s.reason] for s in skipped])]


def adaptive_lines(results: tuple[CellResult, ...], lead_header: list[str], lead,
                   labels: dict[str, str]) -> list[str]:
    """What the adaptive trackers did: photos dropped per training set, and how the extractor was retrained."""
    lines = []
    dropping = [r for r in results if r.dropped]
    if dropping:
        lines += ["", "## Photos dropped by adaptive trackers", "",
                  "Per training set (the control, then each protected user's): photos dropped, of which cloaked.", "",
                  *table(lead_header + ["training set", "dropped", "of which cloaked"],
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
