"""`audit run` against a gallery of a million strangers embedded beforehand (`--distractors FILE.npz`): the
run's time, peak memory and results without the strangers and with them, in one sitting.

    AUDIT_DATA=../shared/datasets python bench/bench_distractors.py [--gallery 1000000] [--tracker faiss]

The strangers are bench_gallery.py's synthetic dlib-resnet-shaped vectors (LFW's between- and
within-identity covariance), written as an `audit embed` file under dlib-resnet's embedding id, so they
are shaped like faces but are no one's: their effect on protection says how a crowd of that shape
behaves, not what a real million-face gallery would do. A first run fills a fresh cache (cloaks, faces,
embeddings); the same run again and the run with the gallery then differ only by the gallery (reading the
file, building each fit's index, searching it).
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

import numpy as np

from bench_gallery import lfw_statistics, synthetic

RUN = ["--dataset", "lfw", "--users", "2", "--labels", "40", "--min-photos", "10", "--max-photos", "12"]


def write_gallery(path: Path, size: int, per_identity: int) -> None:
    from audit.datasets.embedded import write_embeddings
    from audit.extractors import load_extractor

    mean, between, within = lfw_statistics(1500)
    gallery, _ = synthetic(mean, between, within, size, per_identity, 1, np.random.default_rng(0))
    identities = [f"stranger_{i:07d}" for i in range(len(gallery) // per_identity) for _ in range(per_identity)]
    extractor = load_extractor("dlib-resnet")
    write_embeddings(path, gallery, [f"{name}/{i % per_identity}.jpg" for i, name in enumerate(identities)],
                     identities, [], "dlib-resnet", extractor.embedding_id, "synthetic (bench_distractors.py)")


def timed_run(arguments: list[str], cache: Path, out: Path) -> tuple[float, float, dict]:
    """Wall seconds and peak resident memory (GiB) of one `audit run` process, and its report."""
    began = time.perf_counter()
    log = out.with_suffix(".log")
    with open(log, "w") as progress:
        child = subprocess.Popen([sys.executable, "-m", "audit.cli", "run", *arguments, "--out", str(out)],
                                 env={**os.environ, "AUDIT_CACHE": str(cache)}, stdout=progress, stderr=progress)
        _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"audit run {' '.join(arguments)} failed:\n{log.read_text()[-3000:]}")
    seconds = time.perf_counter() - began
    return seconds, usage.ru_maxrss / 2**20, json.loads((out / "report.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=1_000_000, help="distractor photos (vectors)")
    parser.add_argument("--per-identity", type=int, default=10)
    parser.add_argument("--tracker", default="faiss")
    parser.add_argument("--cloaker", default="noise:budget=dssim:0.005")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-distractors-") as scratch:
        root = Path(scratch)
        began = time.perf_counter()
        write_gallery(root / "gallery.npz", args.gallery, args.per_identity)
        print(f"gallery: {args.gallery:,} vectors of {args.gallery // args.per_identity:,} strangers, "
              f"{(root / 'gallery.npz').stat().st_size / 2**20:.0f} MiB file, written in "
              f"{time.perf_counter() - began:.0f} s")
        arguments = [*RUN, "--cloaker", args.cloaker, "--tracker", args.tracker]
        runs = {}
        for label, extra in (("cold", []), ("alone", []), ("gallery", ["--distractors", str(root / "gallery.npz")])):
            runs[label] = timed_run([*arguments, *extra], root / "cache", root / label)
    (alone_s, alone_gib, _), (crowd_s, crowd_gib, _) = runs["alone"], runs["gallery"]
    print(f"audit run {' '.join(arguments)}")
    for label, (seconds, gib, report) in runs.items():
        [cell] = report["results"]
        timings = report["timings"]
        print(f"  {label:8} {seconds:7.1f} s (fit {timings.get('fit', 0):6.1f} s, predict "
              f"{timings.get('predict', 0):5.1f} s), peak {gib:.1f} GiB; n_distractors {cell['n_distractors']:,}, "
              f"protection {cell['protection']['rate']:.3f}, control {cell['control']['rate']:.3f}, "
              f"normal accuracy {cell['normal_accuracy']['rate']:.3f}")
    print(f"  the gallery costs {crowd_s - alone_s:.0f} s ({crowd_s / alone_s:.2f}x the run without it) and "
          f"{crowd_gib - alone_gib:.1f} GiB more at peak")


if __name__ == "__main__":
    main()
