"""`report.md`: the run's figures as a person reads them."""

from __future__ import annotations

from reports.formatting import percent, rate_text, verdict


def render_markdown(report: dict) -> str:
    cloaker, cost, protocol = report["cloaker"], report["perturbation"], report["protocol"]
    params = ", ".join(f"{k}={v}" for k, v in cloaker["params"].items()) or "no options"
    lines = [
        "# cloak-audit report",
        "",
        f"Cloaker **{cloaker['name']}** ({cloaker['implementation']}; {params}).",
        *[f"Cloak target for {user}: {note['target']}." for user, note in cloaker.get("per_user", {}).items()
          if "target" in note],
        f"Dataset `{protocol['dataset']}`, seed {protocol['seed']}: {len(protocol['users'])} protected users "
        f"({protocol['isolation']}), {protocol['n_labels']} identities, {protocol['n_train_photos']} training and "
        f"{protocol['n_test_photos']} test photos, leak ratio {protocol['leak_ratio']}.",
        "",
        "Protection = share of a protected user's *uncloaked* test photos the tracker does not identify "
        "(top-1). The control is the same tracker trained on uncloaked photos. Intervals are 95%, "
        "bootstrapped over users.",
        "",
        "| tracker | countermeasure | protection | control | normal accuracy | rank-k protection | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in report["results"]:
        rank = result.get("rank_k")
        rank_text = f"{rate_text(rank['protection'])} (k={rank['k']})" if rank else "—"
        lines.append(f"| `{result['tracker']}` | {result['countermeasure']} | {rate_text(result['protection'])} | "
                     f"{rate_text(result['control'])} | {rate_text(result['normal_accuracy'])} | {rank_text} | "
                     f"{verdict(result)} |")
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
        "| tracker | user | test photos | protection | control |",
        "|---|---|---|---|---|",
    ]
    for result in report["results"]:
        for user in result["per_user"]:
            lines.append(f"| `{result['tracker']}` | {user['user']} | {user['n_test']} | "
                         f"{percent(user['protection'])} | {percent(user['control'])} |")
    if report["skipped"]:
        lines += ["", f"## Skipped ({len(report['skipped'])})", "", "| photo | stage | reason |", "|---|---|---|"]
        lines += [f"| `{s['path']}` | {s['stage']} | {s['reason']} |" for s in report["skipped"]]
    return "\n".join(lines) + "\n"
