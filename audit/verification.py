"""LFW View 2 verification: a threshold chosen on the other folds, tested on each fold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.datasets import parse_pairs


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


@dataclass
class FoldResult:
    fold: int
    threshold: float
    accuracy: float
    n_pairs: int
    n_unusable: int  # pairs with a photo that could not be embedded: counted as errors


def evaluate_folds(fold_of: np.ndarray, distances: np.ndarray, same: np.ndarray, usable: np.ndarray,
                   folds: list[int], fixed_threshold: float | None = None) -> list[FoldResult]:
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
        results.append(FoldResult(fold, threshold, float(correct.mean()), int(test.sum()),
                                  int((~usable[test]).sum())))
    return results


@dataclass
class ViewTwoResult:
    folds: list[FoldResult]
    n_photos: int
    unusable: list[tuple[Path, str]]  # photos that could not be embedded, with the reason
    centre_cropped: list[str]  # photos without a detected face, embedded as a centre crop
    fixed_threshold: bool  # one fold alone: the extractor's own threshold

    @property
    def accuracies(self) -> np.ndarray:
        return np.array([r.accuracy for r in self.folds])


def lfw_view2(root: Path, folds: str, pipeline, cache=None) -> ViewTwoResult:
    """The pipeline's accuracy on LFW View 2's selected folds (`root` holds pairs.txt and the photos)."""
    pairs_file = root / "pairs.txt"
    if not pairs_file.exists():
        raise FileNotFoundError(f"{root} has no pairs.txt (LFW View 2)")
    pairs = parse_pairs(pairs_file)
    selected = parse_folds(folds, available=max(p.fold for p in pairs))
    pairs = [p for p in pairs if p.fold in selected]
    fixed = pipeline.extractor.same_person_distance if len(selected) == 1 else None
    if len(selected) == 1 and fixed is None:
        raise ValueError("one fold alone needs the extractor's own threshold; select two folds or more")
    photos = sorted({name for p in pairs for name in (p.first, p.second)})
    result = pipeline.embed_files([root / name for name in photos], cache)
    index = {str(p.relative_to(root)): i for i, p in enumerate(result.paths)}
    usable = np.array([p.first in index and p.second in index for p in pairs])
    distances = np.array([np.linalg.norm(result.embeddings[index[p.first]] - result.embeddings[index[p.second]])
                          if ok else np.inf for p, ok in zip(pairs, usable)])
    same = np.array([p.same for p in pairs])
    fold_of = np.array([p.fold for p in pairs])
    return ViewTwoResult(evaluate_folds(fold_of, distances, same, usable, selected, fixed), len(photos),
                         list(result.skipped), [str(p.relative_to(root)) for p in result.fallbacks], fixed is not None)
