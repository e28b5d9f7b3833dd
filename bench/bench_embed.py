"""Embedding speed: the PyTorch port of dlib's ResNet against dlib itself (dlib-bin), on the
same aligned LFW chips; decode + detect + align throughput of the MTCNN pipeline against dlib's
own HOG + 5-point + `get_face_chip` on the same photos (and against facenet-pytorch's MTCNN one
photo at a time, what the pipeline ran before), and for a second extractor reading the faces
the first one detected; and every other extractor (mobilefacenet, faceres) on its own chips.

    python bench/bench_embed.py [--chips 512] [--detect 512] [--repeats 3] [--extractors mobilefacenet,faceres]

Prints photos/s and images/s with ratios measured in the same run (targets: detect + align
≥ 3× dlib-bin's pipeline; port ≥ 15× dlib-bin). The two detection pipelines run --repeats times
each, alternating, each of ours from an empty face cache, and their medians are compared: on a
shared machine one pass of either varies by about ±5% from process to process.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audit.devices import reuse_freed_memory
from audit.embedding.pipeline import FacePipeline, decoded_ahead
from audit.extractors import load_extractor
from audit.extractors.base import CPU_EMBED_BATCH
from audit.face.detection import MtcnnDetector
from audit.images import PhotoSkipped, read_image

LFW = Path(os.environ.get("AUDIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")) / "lfw"


def aligned_chips(pipeline: FacePipeline, photos: list[Path], batch: int = 32) -> list[torch.Tensor]:
    """The pipeline's chip of every photo in which it finds a face, `batch` photos at a time, each batch decoding
    in a thread while the one before it is searched, as `FacePipeline.embed_files` runs."""
    encoded = [[path.read_bytes() for path in photos[start : start + batch]] for start in range(0, len(photos), batch)]
    chips = []
    for decoded in decoded_ahead(encoded):
        images = [image for image in decoded if not isinstance(image, PhotoSkipped)]
        chips += [found[0] for found in pipeline.chips(images) if not isinstance(found, PhotoSkipped)]
    return chips


def dlib_pipeline_rate(photos: list[Path]) -> float:
    """Photos/s of dlib's own pipeline: decode, HOG detector (1 upsample, as face_recognition does),
    5-point landmarks, `get_face_chip` (150 px, padding 0.25)."""
    import dlib

    from audit.face.detection import face_model_path

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(face_model_path("shape_predictor_5_face_landmarks.dat")))
    start = time.perf_counter()
    for path in photos:
        image = read_image(path)
        for rect in detector(image, 1)[:1]:
            dlib.get_face_chip(image, predictor(image, rect), size=150, padding=0.25)
    return len(photos) / (time.perf_counter() - start)


def facenet_one_by_one_rate(photos: list[Path]) -> float:
    """Photos/s of decode + facenet-pytorch's own MTCNN, one photo per call (detection only)."""
    from audit.face._torchvision_shim import import_facenet_pytorch

    mtcnn = import_facenet_pytorch().MTCNN(keep_all=True, min_face_size=20, device="cpu",
                                           thresholds=list(MtcnnDetector.THRESHOLDS))
    start = time.perf_counter()
    for path in photos:
        mtcnn.detect(read_image(path), landmarks=True)
    return len(photos) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=512)
    parser.add_argument("--detect", type=int, default=512)
    parser.add_argument("--batch", type=int, help="chips per forward pass (default: the extractor's own)")
    parser.add_argument("--extractors", default="mobilefacenet,faceres", help="others to time against the port")
    parser.add_argument("--repeats", type=int, default=3, help="passes of each detection pipeline (medians compared)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    reuse_freed_memory()  # as `audit` starts
    photos = sorted(LFW.glob("*/*.jpg"))
    random.Random(0).shuffle(photos)

    extractor = load_extractor("dlib-resnet")
    aligned_chips(FacePipeline(extractor, remember_faces=False), photos[-16:])  # loads the networks
    detect_rates, dlib_rates = [], []
    for _ in range(args.repeats):  # alternating, so that both see the machine's drift
        os.environ["AUDIT_CACHE"] = tempfile.mkdtemp(prefix="bench-embed-")  # an empty face cache
        start = time.perf_counter()
        chips = aligned_chips(FacePipeline(extractor), photos[: args.detect])  # detects, and keeps each face
        detect_rates.append(args.detect / (time.perf_counter() - start))
        dlib_rates.append(dlib_pipeline_rate(photos[: args.detect]))
    detect_rate, dlib_detect_rate = statistics.median(detect_rates), statistics.median(dlib_rates)
    pass_ratios = [ours / theirs for ours, theirs in zip(detect_rates, dlib_rates)]
    one_by_one_rate = facenet_one_by_one_rate(photos[: args.detect])
    second = FacePipeline(load_extractor("faceres"))
    start = time.perf_counter()
    aligned_chips(second, photos[: args.detect])  # decodes and aligns; the faces come from the cache
    cached_rate = args.detect / (time.perf_counter() - start)
    # the same chips for both extractors: aligned chips, repeated up to --chips
    batch = torch.stack([chips[i % len(chips)] for i in range(args.chips)])
    uint8 = batch.round().clamp(0, 255).byte()

    extractor.embed(uint8[:64].float())  # warm-up
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
    print(f"decode + detect + align, {args.detect} LFW photos, median of {args.repeats} passes each:")
    print(f"  MTCNN, batched:            {detect_rate:8.1f} photos/s")
    print(f"  dlib HOG + 5-point + chip: {dlib_detect_rate:8.1f} photos/s (one core)")
    print(f"  MTCNN / dlib pipeline:     {detect_rate / dlib_detect_rate:8.2f}x  (target >= 3x; pass by pass "
          f"{min(pass_ratios):.2f}-{max(pass_ratios):.2f}x)")
    print(f"  facenet-pytorch, 1 by 1:   {one_by_one_rate:8.1f} photos/s, detection only (batched is "
          f"{detect_rate / one_by_one_rate:.2f}x)")
    print(f"align, faces cached:         {cached_rate:8.1f} photos/s ({cached_rate / detect_rate:.1f}x: a second "
          "extractor on the same photos)")
    print(f"embed, PyTorch port:         {port_rate:8.1f} images/s (passes of {args.batch or CPU_EMBED_BATCH})")
    print(f"embed, dlib-bin:             {dlib_rate:8.1f} images/s")
    print(f"port / dlib-bin:             {port_rate / dlib_rate:8.2f}x  (target >= 15x)")
    print(f"max |port - dlib| on these chips: {np.abs(ours - reference).max():.2e}")
    for name in filter(None, args.extractors.split(",")):
        other = FacePipeline(load_extractor(name))
        own = aligned_chips(other, photos[: args.detect])
        chips_of = torch.stack([own[i % len(own)] for i in range(args.chips)]).round().clamp(0, 255)
        other.extractor.embed(chips_of[:64])  # warm-up
        start = time.perf_counter()
        other.extractor.embed(chips_of, batch_size=args.batch)
        rate = args.chips / (time.perf_counter() - start)
        print(f"embed, {name + ':':22}{rate:8.1f} images/s ({other.extractor.input_size} px), "
              f"{rate / port_rate:.2f}x the dlib-resnet port")


if __name__ == "__main__":
    main()
