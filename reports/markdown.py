"""`report.md`: the run's figures as a person reads them."""

from __future__ import annotations

from reports.formatting import SWEPT, percent, rate_text, swept_columns, verdict


def render_markdown(report: dict, plots: list[str] = ()) -> str:
    """The report as Markdown; `plots` are sweep PNGs beside it, shown under the results table."""
    cloaker, cost, protocol = report["cloaker"], report["perturbation"], report["protocol"]
    params = ", ".join(f"{k}={v}" for k, v in cloaker["params"].items()) or "no options"
    swept = swept_columns(report["results"])
    lines = [
        "# cloak-audit report",
        "",
        f"Cloaker **{cloaker['name']}** ({cloaker['implementation']}; {params}).",
        *[f"Cloak target for {user}: {note['target']}." for user, note in cloaker.get("per_user", {}).items()
          if "target" in note],
        f"Dataset `{protocol['dataset']}`, seed {protocol['seed']}: {len(protocol['users'])} protected users "
        f"({protocol['isolation']}), {protocol['n_labels']} identities, {protocol['n_train_photos']} training and "
        f"{protocol['n_test_photos']} test photos, leak ratio {protocol['leak_ratio']}.",
        *([f"Swept: " + "; ".join(f"leak ratio {s['leak_ratio']} with {s['n_labels']} identities "
                                  f"({s['n_leaked_photos']} leaked photos)" for s in protocol["sweep"]) + "."]
          if "sweep" in protocol else []),
        "",
        "Protection = share of a protected user's *uncloaked* test photos the tracker does not identify "
        "(top-1). The control is the same tracker trained on uncloaked photos. Intervals are 95%, "
        "bootstrapped over users.",
        "",
        "| tracker | countermeasure | " + "".join(f"{SWEPT[k]} | " for k in swept)
        + "protection | control | normal accuracy | rank-k protection | verdict |",
        "|---|---|" + "---|" * len(swept) + "---|---|---|---|---|",
    ]
    for result in report["results"]:
        rank = result.get("rank_k")
        rank_text = f"{rate_text(rank['protection'])} (k={rank['k']})" if rank else "—"
        scenario = "".join(f"{result[k]} | " for k in swept)
        lines.append(f"| `{result['tracker']}` | {result['countermeasure']} | {scenario}{rate_text(result['protection'])} | "
                     f"{rate_text(result['control'])} | {rate_text(result['normal_accuracy'])} | {rank_text} | "
                     f"{verdict(result)} |")
    if plots:
        lines += ["", "## Sweeps", ""] + [f"![{name}]({name})" for name in plots]
    psnr = "n/a" if cost["psnr_mean"] is None else f"{cost['psnr_mean']:.1f} dB"
    lines += [
        "",
        "## Perceptual cost of the cloaks",
        "",
        f"{cost['n_photos']} cloaked photos: DSSIM mean {cost['dssim_mean']:.4f}, max {cost['dssim_max']:.4f}; "
        f"PSNR mean {psnr}; L2 mean {cost['l2_mean']:.2f}; Linf max {cost['linf_max']:.0f}; "
        f"{cost['seconds_per_photo']:.2f} s per photo.",
        "",
        "## Per user",
        "",
        "| tracker | countermeasure | " + "".join(f"{SWEPT[k]} | " for k in swept)
        + "user | test photos | protection | control |",
        "|---|---|" + "---|" * len(swept) + "---|---|---|---|",
    ]
    for result in report["results"]:
        scenario = "".join(f"{result[k]} | " for k in swept)
        for user in result["per_user"]:
            lines.append(f"| `{result['tracker']}` | {result['countermeasure']} | {scenario}{user['user']} | "
                         f"{user['n_test']} | "
                         f"{percent(user['protection'])} | {percent(user['control'])} |")
    if report.get("detection"):
        lines += ["", "## Cloak detection", "",
                  "Protected classes are positives; scores are in standard deviations of the other classes'.", "",
                  "| detector | leak ratio | labels | ROC AUC | TPR at 5% FPR | TP | FN | FP | TN |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for d in report["detection"]:
            c = d["confusion"]
            auc = "n/a" if d["auc"] is None else f"{d['auc']:.3f}"
            tpr = "n/a" if d["tpr_at_5fpr"] is None else percent(d["tpr_at_5fpr"])
            lines.append(f"| `{d['detector']}` | {d['leak_ratio']} | {d['n_labels']} | {auc} | {tpr} | "
                         f"{c['true_positives']} | {c['false_negatives']} | {c['false_positives']} | "
                         f"{c['true_negatives']} |")
    if report["skipped"]:
        lines += ["", f"## Skipped ({len(report['skipped'])})", "", "| photo | stage | reason |", "|---|---|---|"]
        lines += [f"| `{s['path']}` | {s['stage']} | {s['reason']} |" for s in report["skipped"]]
    return "\n".join(lines) + "\n"
