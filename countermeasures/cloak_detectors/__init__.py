"""Cloak detectors (`--cloak-detector NAME[:opts]`), and how well they separate protected from clean classes."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from audit.embedding.pipeline import FacePipeline
from audit.extractors import load_extractor
from audit.options import parse_spec
from audit.plugins import build_registered, registered, registry, summaries
from audit.records import ClassScore, Confusion
from countermeasures.cloak_detectors.base import CloakDetector
from countermeasures.cloak_detectors.target_closeness import TargetClosenessDetector
from countermeasures.cloak_detectors.two_means import TwoMeansDetector

BUILT_IN: dict[str, type[CloakDetector]] = registry(TwoMeansDetector, TargetClosenessDetector)
# The model a detector scores when the tracker it serves has none of its own (the scratch CNN).
FALLBACK_EXTRACTOR = "dlib-resnet"


def available_cloak_detectors() -> dict[str, str]:
    return summaries(registered("cloak detector"))


def build_cloak_detector(spec_text: str) -> CloakDetector:
    """`2-means`, `2-means:threshold=3`, `target-closeness`, `2-means:extractor=dlib-resnet`."""
    return build_registered(registered("cloak detector"), parse_spec(spec_text), "cloak detector")


def features_model(chosen: str | None, tracker: object) -> tuple[str, str]:
    """(extractor, face detector) whose features a detector scores for `tracker`: the one it was
    told, else the tracker's own model and face detector, else dlib-resnet."""
    face_detector = getattr(tracker, "face_detector", "mtcnn")
    return chosen or getattr(tracker, "extractor", None) or FALLBACK_EXTRACTOR, face_detector


def tracker_features(photos: list[Path], labels: list[str], extractor: str, face_detector: str = "mtcnn"
                     ) -> tuple[np.ndarray, list[str], list[Path]]:
    """The features a tracker on `extractor` and `face_detector` sees, for the photos that have a face."""
    embedded = _feature_pipeline(extractor, face_detector).embed_cached(photos,
                                                                        description="features for cloak detection")
    label_of = dict(zip(photos, labels))
    return embedded.embeddings, [label_of[p] for p in embedded.paths], embedded.paths


@functools.lru_cache(maxsize=2)
def _feature_pipeline(extractor: str, face_detector: str) -> FacePipeline:
    return FacePipeline(load_extractor(extractor), face_detector=face_detector)


def detection_record(detector: CloakDetector, protected: list[str]) -> dict:
    """ROC AUC and TPR at 5% FPR over protected (positive) vs clean classes, and an ART-style
    confusion matrix at the detector's threshold: the scores of a `records.Detection`, as its keywords."""
    names = sorted(detector.scores_)
    truth = np.array([name in protected for name in names])
    scores = np.array([detector.scores_[name] for name in names])
    flagged = detector.flagged()
    record: dict = {"n_protected": int(truth.sum()), "n_clean": int((~truth).sum()), "threshold": detector.threshold}
    if truth.all() or not truth.any():
        record.update(auc=None, tpr_at_5fpr=None)
    else:
        from sklearn.metrics import roc_auc_score, roc_curve

        fpr, tpr, _ = roc_curve(truth, scores)
        record.update(auc=float(roc_auc_score(truth, scores)), tpr_at_5fpr=float(tpr[fpr <= 0.05].max()))
    predicted = np.array([name in flagged for name in names])
    record["confusion"] = Confusion(
        true_positives=int((truth & predicted).sum()), false_negatives=int((truth & ~predicted).sum()),
        false_positives=int((~truth & predicted).sum()), true_negatives=int((~truth & ~predicted).sum()))
    record["per_class"] = tuple(ClassScore(class_=name, score=round(float(detector.scores_[name]), 4),
                                           protected=bool(is_protected), flagged=bool(is_flagged))
                                for name, is_protected, is_flagged in zip(names, truth, predicted))
    return record


__all__ = ["BUILT_IN", "CloakDetector", "available_cloak_detectors", "build_cloak_detector",
           "detection_record", "features_model", "tracker_features"]
