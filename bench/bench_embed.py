"""Embedding speed: the PyTorch port of dlib's ResNet against dlib itself (dlib-bin), on the
same aligned LFW chips, plus detection + alignment throughput of the MTCNN pipeline (cold, and
for a second extractor reading the faces the first one detected), and every other extractor
(mobilefacenet, faceres) on its own chips cut from the same photos.

    python bench/bench_embed.py [--chips 512] [--detect 128] [--extractors mobilefacenet,faceres]

Prints images/s for each extractor and its ratio to the dlib-resnet port measured in the same
run (target: port ≥ 8× dlib-bin).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audit.extractors import load_extractor
from audit.face.pipeline import FacePipeline
from audit.images import read_image

LFW = Path(os.environ.get("AUDIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")) / "lfw"


def aligned_chips(pipeline: FacePipeline, photos: list[Path]) -> list[torch.Tensor]:
    """The pipeline's chip of every photo in which it finds a face."""
    chips = []
    for path in photos:
        try:
            chips.append(pipeline.chip(read_image(path))[0])
        except Exception:
            continue
    return chips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=512)
    parser.add_argument("--detect", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--extractors", default="mobilefacenet,faceres", help="others to time against the port")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    photos = sorted(LFW.glob("*/*.jpg"))
    random.Random(0).shuffle(photos)

    os.environ["AUDIT_CACHE"] = tempfile.mkdtemp(prefix="bench-embed-")  # an empty face cache
    extractor = load_extractor("dlib-resnet")
    pipeline = FacePipeline(extractor)
    start = time.perf_counter()
    chips = aligned_chips(pipeline, photos[: args.detect])  # detects, and keeps each face
    detect_rate = args.detect / (time.perf_counter() - start)
    second = FacePipeline(load_extractor("faceres"))
    start = time.perf_counter()
    aligned_chips(second, photos[: args.detect])  # decodes and aligns; the faces come from the cache
    cached_rate = args.detect / (time.perf_counter() - start)
    # the same chips for both extractors: aligned chips, repeated up to --chips
    batch = torch.stack([chips[i % len(chips)] for i in range(args.chips)])
    uint8 = batch.round().clamp(0, 255).byte()

    extractor.embed(uint8[: args.batch].float())  # warm-up
    start = time.perf_counter()
    ours = extractor.embed(uint8.float(), batch_size=args.batch)
    port_rate = args.chips / (time.perf_counter() - start)

    import dlib

    from audit.face.detection import face_model_path

    recognizer = dlib.face_recognition_model_v1(str(face_model_path("dlib_face_recognition_resnet_model_v1.dat")))
    arrays = [np.ascontiguousarray(c.permute(1, 2, 0).numpy()) for c in uint8]
    start = time.perf_counter()
    reference = np.array(recognizer.compute_face_descriptor(arrays))  # dlib's batched call
    dlib_rate = args.chips / (time.perf_counter() - start)

    print(f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, chips: {args.chips}")
    print(f"detect + align (MTCNN):      {detect_rate:8.1f} photos/s")
    print(f"align, faces cached:         {cached_rate:8.1f} photos/s ({cached_rate / detect_rate:.1f}x: a second "
          "extractor on the same photos)")
    print(f"embed, PyTorch port:         {port_rate:8.1f} images/s (batch {args.batch})")
    print(f"embed, dlib-bin:             {dlib_rate:8.1f} images/s")
    print(f"port / dlib-bin:             {port_rate / dlib_rate:8.2f}x  (target >= 8x)")
    print(f"max |port - dlib| on these chips: {np.abs(ours - reference).max():.2e}")
    for name in filter(None, args.extractors.split(",")):
        other = FacePipeline(load_extractor(name))
        own = aligned_chips(other, photos[: args.detect])
        chips_of = torch.stack([own[i % len(own)] for i in range(args.chips)]).round().clamp(0, 255)
        other.extractor.embed(chips_of[: args.batch])  # warm-up
        start = time.perf_counter()
        other.extractor.embed(chips_of, batch_size=args.batch)
        rate = args.chips / (time.perf_counter() - start)
        print(f"embed, {name + ':':22}{rate:8.1f} images/s ({other.extractor.input_size} px), "
              f"{rate / port_rate:.2f}x the dlib-resnet port")


if __name__ == "__main__":
    main()
