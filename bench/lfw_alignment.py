"""Choose how an extractor's chips are cut, on LFW View 2: FaceRes's box margin, MobileFaceNet's
template rule (dlib's chip spread or InsightFace's direct fit).

MTCNN runs once per photo; each variant then re-cuts and re-embeds the chips, and the mean
accuracy over the folds (threshold from the other folds) is printed. A photo with no face is a
centre crop, as in `audit check-extractor`.

    python bench/lfw_alignment.py faceres --margins 0,0.05,0.1,0.15,0.2,0.3 [--folds 1,2]
    python bench/lfw_alignment.py mobilefacenet
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audit.datasets import parse_pairs
from audit.embedding.pipeline import centre_crop_matrix
from audit.extractor_check import evaluate_folds, parse_folds
from audit.extractors import load_extractor
from audit.face.align import BoxAlignment, warp_chips
from audit.face.detection import MtcnnDetector, pick_face
from audit.images import read_image

LFW = Path(os.environ.get("AUDIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")) / "lfw"


def accuracy(embeddings: dict[str, np.ndarray], pairs, folds: list[int]) -> float:
    distances = np.array([np.linalg.norm(embeddings[p.first] - embeddings[p.second]) for p in pairs])
    results = evaluate_folds(np.array([p.fold for p in pairs]), distances, np.array([p.same for p in pairs]),
                             np.ones(len(pairs), bool), folds)
    return float(np.mean([r.accuracy for r in results]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extractor")
    parser.add_argument("--margins", default="0,0.05,0.1,0.15,0.2,0.3")
    parser.add_argument("--folds", default="1,2")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    folds = parse_folds(args.folds)
    pairs = [p for p in parse_pairs(LFW / "pairs.txt") if p.fold in folds]
    photos = sorted({name for p in pairs for name in (p.first, p.second)})
    extractor = load_extractor(args.extractor)
    detector = MtcnnDetector()
    faces = {}
    images = {}
    for name in tqdm(photos, desc="MTCNN"):
        images[name] = read_image(LFW / name)
        faces[name] = pick_face(detector.detect(images[name]), images[name].shape)
    if extractor.box_margin is not None:
        variants = {f"margin {m}": BoxAlignment(float(m)) for m in args.margins.split(",")}
    else:
        template = extractor.template_for("mtcnn")
        variants = {"dlib spread": replace(template, dlib_spread=True),
                    "direct fit": replace(template, dlib_spread=False)}
    size = extractor.input_size
    for label, alignment in variants.items():
        embeddings = {}
        for start in tqdm(range(0, len(photos), 64), desc=label, leave=False):
            chips = []
            for name in photos[start : start + 64]:
                pixels = torch.from_numpy(images[name]).permute(2, 0, 1)[None].float()
                face = faces[name]
                matrix = centre_crop_matrix(images[name].shape, size) if face is None else alignment.matrix(face, size)
                chips.append(warp_chips(pixels, torch.from_numpy(matrix)[None].float(), size)[0])
            embeddings.update(zip(photos[start : start + 64], extractor.embed(torch.stack(chips))))
        print(f"{args.extractor} {label}: mean accuracy {accuracy(embeddings, pairs, folds):.4f} "
              f"over folds {args.folds} ({sum(f is None for f in faces.values())} photos centre-cropped)")


if __name__ == "__main__":
    main()
