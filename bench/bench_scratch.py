"""Training time and accuracy of the `scratch` tracker on the LFW identities with ≥ 20 photos.

    AUDIT_DATA=../shared/datasets python bench/bench_scratch.py [--spec scratch:arch=resnet] [--epochs ...]

The label set is the one `audit run` uses (62 identities, at most 40 photos each, 70% for
training). Face detection and alignment run first and are timed apart: they are cached, and
a tracker pays them once per photo whatever it trains. Target: training takes minutes on two
cores and top-1 accuracy on the held-out photos is at least 50%.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from audit.datasets import load_photos, resolve_dataset
from audit.devices import reuse_freed_memory
from audit.protocol import ProtocolOptions, build_protocol
from trackers import build_tracker

TARGET_MINUTES = 5.0
TARGET_ACCURACY = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="scratch", help="tracker spec, e.g. scratch:arch=resnet,size=64")
    parser.add_argument("--dataset", default="lfw")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    reuse_freed_memory()  # as `audit` starts
    protocol = build_protocol(load_photos(resolve_dataset(args.dataset)).photos, ProtocolOptions(users=1))
    train = [(p, name) for name in protocol.labels for p in protocol.train[name]]
    test = [(p, name) for name in protocol.labels for p in protocol.test[name]]
    tracker = build_tracker(args.spec)
    began = time.perf_counter()
    tracker.pipeline.embed_cached([p for p, _ in train + test], "detect + align")
    align = time.perf_counter() - began
    began = time.perf_counter()
    tracker.fit([p for p, _ in train], [name for _, name in train])
    fit = time.perf_counter() - began
    ranking = tracker.predict([p for p, _ in test])
    accuracy = float(np.mean([ranking.top(p) == [name] for p, name in test if p in ranking.ranked]))
    print(f"cores: {os.cpu_count()}; {tracker!r}")
    print(f"  {len(protocol.labels)} identities, {len(train)} training and {len(test)} test photos "
          f"({len(tracker.skipped_) + len(ranking.skipped)} without a face)")
    print(f"  detect + align  {align:7.1f} s (cached after the first run)")
    print(f"  training        {fit:7.1f} s  ({fit / 60:.1f} min; target <= {TARGET_MINUTES:.0f} min, "
          f"ratio {fit / 60 / TARGET_MINUTES:.2f})")
    print(f"  top-1 accuracy  {accuracy:7.1%}  (target >= {TARGET_ACCURACY:.0%}; chance {1 / len(protocol.labels):.1%})")


if __name__ == "__main__":
    main()
