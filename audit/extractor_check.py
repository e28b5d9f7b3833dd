"""`audit check-extractor`: a face model's LFW View 2 verification accuracy, a threshold chosen on the other folds
and tested on each fold (the check that a model and its pipeline are sound before they serve a tracker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.datasets import parse_pairs
from audit.embedding.cache import EmbeddingCache
from audit.embedding.pipeline import FacePipeline
from audit.environment import environment
from audit.extractors import ExtractorSpec
from audit.face.detection import FaceDetector
from audit.records import ExtractorCheck, FoldAccuracy, Skip


def parse_folds(text: str, available: int = 10) -> list[int]:
    """`1-10`, `1,3,5` or `2` → sorted 1-based fold numbers."""
    folds: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        start, dash, end = part.partition("-")
        try:
            lo, hi = int(start), int(end) if dash else int(start)
        except ValueError:
            raise ValueError(f"bad fold range {part!r} (use e.g. 1-10 or 1,3)") from None
        if not 1 <= lo <= hi <= available:
            raise ValueError(f"folds must lie in 1-{available}, got {part!r}")
        folds.update(range(lo, hi + 1))
    if not folds:
        raise ValueError("no folds selected")
    return sorted(folds)


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold (same person when distance < threshold) with the highest accuracy."""
    order = np.sort(distances)
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    accuracy = [np.mean((distances < t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def evaluate_folds(fold_of: np.ndarray, distances: np.ndarray, same: np.ndarray, usable: np.ndarray,
                   folds: list[int], fixed_threshold: float | None = None) -> list[FoldAccuracy]:
    """Per-fold accuracy; the threshold comes from the other selected folds (or is fixed)."""
    results = []
    for fold in folds:
        test = fold_of == fold
        train = (fold_of != fold) & np.isin(fold_of, folds) & usable
        if fixed_threshold is not None or not train.any():
            threshold = fixed_threshold
        else:
            threshold = best_threshold(distances[train], same[train])
        if threshold is None:
            raise ValueError("one fold alone needs a fixed threshold")
        correct = usable[test] & ((distances[test] < threshold) == same[test])
        results.append(FoldAccuracy(fold=fold, threshold=threshold, accuracy=float(correct.mean()),
                                    n_pairs=int(test.sum()), n_unusable=int((~usable[test]).sum())))
    return results


def check_extractor(extractor: ExtractorSpec, face_detector: FaceDetector, lfw: Path, folds: str, fallback: bool = True,
                    cache: EmbeddingCache | None = None, command_line: str = "") -> ExtractorCheck:
    """The model's accuracy on LFW View 2's selected folds (`lfw` holds pairs.txt and the photos); `fallback` aligns
    a photo without a detected face as a centre crop instead of counting its pairs as errors."""
    pairs_file = lfw / "pairs.txt"
    if not pairs_file.exists():
        raise FileNotFoundError(f"{lfw} has no pairs.txt (LFW View 2)")
    pipeline = FacePipeline(extractor.load(), face_detector=face_detector, fallback="centre" if fallback else "skip",
                            remember_faces=cache is not None)
    pairs = parse_pairs(pairs_file)
    selected = parse_folds(folds, available=max(p.fold for p in pairs))
    pairs = [p for p in pairs if p.fold in selected]
    fixed = pipeline.extractor.same_person_distance if len(selected) == 1 else None
    if len(selected) == 1 and fixed is None:
        raise ValueError("one fold alone needs the extractor's own threshold; select two folds or more")
    photos = sorted({name for p in pairs for name in (p.first, p.second)})
    result = pipeline.embed_files([lfw / name for name in photos], cache)
    index = {str(p.relative_to(lfw)): i for i, p in enumerate(result.paths)}
    usable = np.array([p.first in index and p.second in index for p in pairs])
    distances = np.array([np.linalg.norm(result.embeddings[index[p.first]] - result.embeddings[index[p.second]])
                          if ok else np.inf for p, ok in zip(pairs, usable)])
    same = np.array([p.same for p in pairs])
    fold_of = np.array([p.fold for p in pairs])
    per_fold = evaluate_folds(fold_of, distances, same, usable, selected, fixed)
    accuracies = np.array([r.accuracy for r in per_fold])
    return ExtractorCheck(
        extractor=extractor.spec, face_detector=face_detector.spec, folds=tuple(selected),
        mean_accuracy=float(accuracies.mean()),
        sd_accuracy=float(accuracies.std(ddof=1)) if len(accuracies) > 1 else 0.0,
        fixed_threshold=fixed is not None, per_fold=tuple(per_fold), n_photos=len(photos),
        unusable=tuple(Skip(path=str(path), reason=reason, stage="embedding") for path, reason in result.skipped),
        centre_cropped=tuple(str(p.relative_to(lfw)) for p in result.fallbacks),
        environment=environment(0, command_line))
