"""Speed of a built-in cloak's optimisation step against its floor: the extractor's forward and
backward pass over the same chips, which every step must pay.

    AUDIT_DATA=../shared/datasets python bench/bench_cloak.py [--photos 19] [--steps 10] [--device cuda]

Cloaks one LFW identity's photos (one batch, as `audit run` cloaks a user) with Fawkes low and
high and LowKey on dlib-resnet, and prints milliseconds per photo and step, the floor's, and their
ratio; what lies between them (warp, DSSIM budget, tanh space, optimiser) is the cloak's own work.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from audit.cloakers.fawkes import FawkesCloak
from audit.cloakers.feature_space import FeatureSpaceCloak
from audit.cloakers.lowkey import LowKeyCloak
from audit.devices import reuse_freed_memory
from audit.images import read_image

LFW = Path(os.environ.get("AUDIT_DATA", "../shared/datasets")) / "lfw"


def seconds_per_photo_step(cloaker: FeatureSpaceCloak, images: list[np.ndarray], steps: int) -> float:
    keys = [f"{i + 1:032x}" for i in range(len(images))]
    cloaker.cloak_images(images[:2], keys[:2])  # loads the models and warms up
    cloaker.chip_matrices(images)  # detects every face now, so that only the optimisation is timed
    began = time.perf_counter()
    cloaker.cloak_images(images, keys)
    return (time.perf_counter() - began) / (len(images) * steps)


def floor_per_photo(cloaker: FeatureSpaceCloak, images: list[np.ndarray], repeats: int = 5) -> float:
    """The extractor's forward and backward pass to the chips' pixels, per photo."""
    matrices = [m[0] for m in cloaker.chip_matrices(images)]
    models, original, _, sources = cloaker.start_batch(np.stack(images), [np.stack(matrices)])
    chips = models[0].chips(original).requires_grad_(True)
    models[0].module(chips).sum().backward()
    began = time.perf_counter()
    for _ in range(repeats):
        (models[0].module(chips) - sources[0]).norm(dim=1).sum().backward()
    if chips.is_cuda:
        torch.cuda.synchronize()  # a GPU's backward pass is only queued when backward() returns
    return (time.perf_counter() - began) / (repeats * len(images))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identity", default="Colin_Powell")
    parser.add_argument("--photos", type=int, default=19, help="the main command's users have 19 or so")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    args = parser.parse_args()
    reuse_freed_memory()  # as `audit` starts
    images = [read_image(p) for p in sorted((LFW / args.identity).glob("*.jpg"))[: args.photos]]
    lowkey = LowKeyCloak(extractor="dlib-resnet", steps=args.steps, device=args.device)
    cloakers = {"fawkes low": FawkesCloak(mode="low", max_step=args.steps, device=args.device),
                "fawkes high": FawkesCloak(mode="high", max_step=args.steps, device=args.device),
                "lowkey (dlib-resnet; two views a step)": lowkey}
    print(f"torch {torch.__version__} on {args.device}, {torch.get_num_threads()} CPU threads; {len(images)} photos "
          f"of {args.identity}, {args.steps} steps")
    floor = floor_per_photo(cloakers["fawkes low"], images)
    print(f"floor: dlib-resnet forward + backward to the chip, {1000 * floor:.1f} ms per photo")
    for name, cloaker in cloakers.items():
        step = seconds_per_photo_step(cloaker, images, args.steps)
        print(f"{name}: {1000 * step:.1f} ms per photo and step, {step / floor:.2f}x the floor")


if __name__ == "__main__":
    main()
