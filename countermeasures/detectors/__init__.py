"""Cloak detectors (`--detector NAME[:opts]`), and how well they separate protected from clean classes."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from audit.extractors import load_extractor
from audit.face.pipeline import FacePipeline
from audit.options import build_registered, parse_spec, summaries
from countermeasures.detectors.base import Detector
from countermeasures.detectors.target_closeness import TargetClosenessDetector
from countermeasures.detectors.two_means import TwoMeansDetector

DETECTORS: dict[str, type[Detector]] = {cls.name: cls for cls in (TwoMeansDetector, TargetClosenessDetector)}


def available_detectors() -> dict[str, str]:
    return summaries(DETECTORS)


def build_detector(spec_text: str) -> Detector:
    """`2-means`, `2-means:threshold=3`, `target-closeness`."""
    return build_registered(DETECTORS, parse_spec(spec_text), "detector")


def tracker_features(photos: list[Path], labels: list[str], extractor: str = "dlib-resnet"
                     ) -> tuple[np.ndarray, list[str], list[Path]]:
    """The features a tracker on `extractor` (with MTCNN) sees, for the photos that have a face."""
    embedded = _feature_pipeline(extractor).embed_cached(photos, description="features for cloak detection")
    label_of = dict(zip(photos, labels))
    return embedded.embeddings, [label_of[p] for p in embedded.paths], embedded.paths


@functools.lru_cache(maxsize=2)
def _feature_pipeline(extractor: str) -> FacePipeline:
    return FacePipeline(load_extractor(extractor))


def detection_record(detector: Detector, protected: list[str]) -> dict:
    """ROC AUC and TPR at 5% FPR over protected (positive) vs clean classes, and an ART-style
    confusion matrix at the detector's threshold."""
    names = sorted(detector.scores_)
    truth = np.array([name in protected for name in names])
    scores = np.array([detector.scores_[name] for name in names])
    flagged = detector.flagged()
    record: dict = {"n_protected": int(truth.sum()), "n_clean": int((~truth).sum()), "threshold": detector.threshold}
    if truth.all() or not truth.any():
        record.update(auc=None, tpr_at_5fpr=None)
    else:
        fpr, tpr, _ = roc_curve(truth, scores)
        record.update(auc=float(roc_auc_score(truth, scores)), tpr_at_5fpr=float(tpr[fpr <= 0.05].max()))
    predicted = np.array([name in flagged for name in names])
    record["confusion"] = {
        "true_positives": int((truth & predicted).sum()), "false_negatives": int((truth & ~predicted).sum()),
        "false_positives": int((~truth & predicted).sum()), "true_negatives": int((~truth & ~predicted).sum()),
    }
    record["per_class"] = [{"class": name, "score": round(float(detector.scores_[name]), 4),
                            "protected": bool(is_protected), "flagged": bool(is_flagged)}
                           for name, is_protected, is_flagged in zip(names, truth, predicted)]
    return record


__all__ = ["Detector", "available_detectors", "build_detector", "detection_record",
           "tracker_features"]
