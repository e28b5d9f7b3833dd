"""Time of the README's main command (`audit run --cloaker fawkes --tracker faiss --dataset lfw`,
its defaults) from a cold cache, then again warm (the same command, the same cache), split into
stages, each run a fresh `audit` process so the warm figure includes start-up and imports.

    AUDIT_DATA=../shared/datasets python bench/bench_run.py [--cloaker ...] [--tracker ...] [--keep-cache DIR]

Targets: cold at most 10 minutes on a 2-core machine; warm at most 30 s and at most 10% of cold.
The cache is a fresh temporary folder (unless --keep-cache), so the cold run reuses nothing from
earlier runs (converted weights included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("decode", "detect", "align", "embed", "cloak", "fit", "predict")


def timed_run(args: argparse.Namespace, cache: Path, out: Path) -> tuple[float, dict]:
    """Wall seconds of one `audit run` process, and its report."""
    command = [sys.executable, "-m", "audit.cli", "run", "--cloaker", args.cloaker, "--tracker", args.tracker,
               "--dataset", args.dataset, "--out", str(out)]
    began = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "AUDIT_CACHE": str(cache)},
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - began, json.loads((out / "report.json").read_text())


def print_split(label: str, total: float, report: dict) -> None:
    timings = report["timings"]
    print(f"{label}: {total:7.1f} s ({total / 60:.1f} min)")
    accounted = 0.0
    for stage in (*STAGES, *sorted(set(timings) - set(STAGES))):
        seconds = timings.get(stage, 0.0)
        accounted += seconds
        print(f"  {stage:13} {seconds:8.1f} s  ({100 * seconds / total:4.1f}%)")
    rest = total - accounted
    print(f"  {'start + report':13} {rest:8.1f} s  ({100 * rest / total:4.1f}%: imports, loading photos, "
          "the protocol, reading cells, writing reports)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloaker", default="fawkes")
    parser.add_argument("--tracker", default="faiss")
    parser.add_argument("--dataset", default="lfw")
    parser.add_argument("--keep-cache", type=Path, help="use (and keep) this cache folder instead of a fresh one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-run-") as scratch:
        cache = args.keep_cache or Path(scratch) / "cache"
        cold, report = timed_run(args, cache, Path(scratch) / "out")
        warm, warm_report = timed_run(args, cache, Path(scratch) / "out")  # identical: its cells are kept there
    protocol = report["protocol"]
    print(f"cores: {os.cpu_count()}; {args.cloaker} vs {args.tracker} on {args.dataset}: "
          f"{len(protocol['users'])} users, {protocol['n_labels']} identities, "
          f"{protocol['n_train_photos'] + protocol['n_test_photos']} photos, "
          f"{report['perturbation']['n_photos']} cloaked")
    print_split("cold", cold, report)
    print_split("warm", warm, warm_report)
    print(f"warm cells: {warm_report['cells']['reused']} reused, {warm_report['cells']['computed']} computed")
    same = [r["protection"] for r in report["results"]] == [r["protection"] for r in warm_report["results"]]
    print(f"cold {cold:.1f} s (target <= 600 s, ratio {cold / 600:.2f}); warm {warm:.1f} s (target <= 30 s), "
          f"{100 * warm / cold:.1f}% of cold (target <= 10%); warm results equal cold: {same}")


if __name__ == "__main__":
    main()
