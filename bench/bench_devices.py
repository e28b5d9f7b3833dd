"""The GPU against the CPU on the same LFW photos: detect + align and each extractor's embedding, photos/s on
each device, and how far the GPU's results lie from the CPU's (landmarks in pixels, embeddings by cosine):
what `device=cuda` buys and what it changes.

    AUDIT_DATA=../shared/datasets python bench/bench_devices.py [--photos 512] [--extractors ...]

Needs a GPU that torch sees (CI has none); photos are decoded before any timing.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from audit.devices import reuse_freed_memory
from audit.embedding.pipeline import FacePipeline
from audit.extractors import load_extractor
from audit.images import PhotoSkipped, read_image

LFW = Path(os.environ.get("AUDIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")) / "lfw"
DEVICES = ("cpu", "cuda")


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    """The result of `work` and the seconds it took, the GPU's queued work included."""
    began = time.perf_counter()
    result = work()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - began


def landmark_moves(cpu_faces: list, gpu_faces: list) -> tuple[np.ndarray, int]:
    """Per photo found on both devices, the largest landmark move in pixels; and how many photos only one found."""
    moves, disagree = [], 0
    for cpu, gpu in zip(cpu_faces, gpu_faces):
        found = [face is not None and not isinstance(face, PhotoSkipped) for face in (cpu, gpu)]
        if found[0] != found[1]:
            disagree += 1
        elif found[0]:
            moves.append(np.abs(cpu.landmarks - gpu.landmarks).max())
    return np.array(moves), disagree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=512)
    parser.add_argument("--extractors", default="dlib-resnet,mobilefacenet,faceres")
    parser.add_argument("--no-tf32", action="store_true", help="full float32 on the GPU too (torch's default: "
                        "cuDNN convolutions in TF32, 10-bit mantissas)")
    args = parser.parse_args()
    reuse_freed_memory()  # as `audit` starts
    if not torch.cuda.is_available():
        raise SystemExit("torch sees no GPU here: this benchmark compares a GPU with the CPU")
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = not args.no_tf32
    paths = sorted(LFW.glob("*/*.jpg"))
    paths = sorted(random.Random(0).sample(paths, min(args.photos, len(paths))))
    images = [read_image(path) for path in paths]
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()} (TF32 {'off' if args.no_tf32 else 'on'}), "
          f"CPU {torch.get_num_threads()} threads; {len(images)} LFW photos")

    faces, rate = {}, {}
    for device in DEVICES:
        pipeline = FacePipeline(load_extractor("dlib-resnet"), device=device, remember_faces=False)
        pipeline.faces(images)  # loads MTCNN; cuDNN picks (and may compile) kernels for every shape it meets
        faces[device], seconds = timed(lambda: pipeline.faces(images))
        rate[device] = len(images) / seconds
    moves, disagree = landmark_moves(faces["cpu"], faces["cuda"])
    print(f"detect + align (MTCNN): cpu {rate['cpu']:.0f} photos/s, cuda {rate['cuda']:.0f} photos/s "
          f"({rate['cuda'] / rate['cpu']:.1f}x); landmarks moved by a median {np.median(moves):.1e} px, "
          f"max {moves.max():.2f} px, > 0.5 px in {np.sum(moves > 0.5)} of {len(moves)} faces; "
          f"found on one device only: {disagree}")

    for name in args.extractors.split(","):
        pipelines = {device: FacePipeline(load_extractor(name), device=device, remember_faces=False)
                     for device in DEVICES}
        chips = torch.stack([found[0] for found in pipelines["cpu"].chips(images)
                             if not isinstance(found, PhotoSkipped)])
        embeddings = {}
        for device, pipeline in pipelines.items():
            pipeline.extractor.embed(chips)  # warm-up, the same batch shapes as the timed pass
            embeddings[device], seconds = timed(lambda: pipeline.extractor.embed(chips))
            rate[device] = len(chips) / seconds
        cpu, gpu = embeddings["cpu"], embeddings["cuda"]
        cosine = (cpu * gpu).sum(1) / np.linalg.norm(cpu, axis=1) / np.linalg.norm(gpu, axis=1)
        print(f"{name:14} embed: cpu {rate['cpu']:.0f} chips/s, cuda {rate['cuda']:.0f} chips/s "
              f"({rate['cuda'] / rate['cpu']:.1f}x); cosine cpu-gpu min {cosine.min():.6f}, "
              f"max |difference| {np.abs(cpu - gpu).max():.2e}")


if __name__ == "__main__":
    main()
