"""Time of the README's main command (`audit run --cloaker fawkes --tracker faiss --dataset lfw`,
its defaults) from a cold cache, split into stages.

    AUDIT_DATA=../shared/datasets python bench/bench_run.py [--cloaker ...] [--tracker ...]

Target: at most 10 minutes on a 2-core machine. The cache is a fresh temporary folder, so
nothing is reused from earlier runs (converted weights included).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloaker", default="fawkes")
    parser.add_argument("--tracker", default="faiss")
    parser.add_argument("--dataset", default="lfw")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        os.environ["AUDIT_CACHE"] = cache
        from audit.plan import RunPlan
        from audit.runner import run_audit

        began = time.perf_counter()
        report = run_audit(RunPlan(cloaker=args.cloaker, trackers=(args.tracker,), dataset=args.dataset))
        total = time.perf_counter() - began
    protocol = report.protocol
    print(f"cores: {os.cpu_count()}; {args.cloaker} vs {args.tracker} on {args.dataset}: "
          f"{len(protocol.users)} users, {protocol.n_labels} identities, "
          f"{protocol.n_train_photos + protocol.n_test_photos} photos, "
          f"{report.perturbation.n_photos} cloaked")
    for stage, seconds in report.timings.items():
        print(f"  {stage:13} {seconds:8.1f} s  ({100 * seconds / total:4.1f}%)")
    print(f"  {'total':13} {total:8.1f} s  ({total / 60:.1f} min; target <= 10 min, ratio {total / 600:.2f})")


if __name__ == "__main__":
    main()
