"""Cloak detectors (`--cloak-detector NAME[:opts]`), and how well they separate protected from clean classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.embedding.pipeline import FacePipeline
from audit.extractors import ExtractorSpec, extractor_spec
from audit.face.detection import FaceDetector, build_face_detector
from audit.options import parse_spec
from audit.plugins import build_registered, registered, registry
from audit.records import ClassScore, Confusion
from countermeasures.cloak_detectors.base import CloakDetector
from countermeasures.cloak_detectors.target_closeness import TargetClosenessDetector
from countermeasures.cloak_detectors.two_means import TwoMeansDetector

BUILT_IN: dict[str, type[CloakDetector]] = registry(TwoMeansDetector, TargetClosenessDetector)
# The model a detector scores when the tracker it serves has none of its own (the scratch CNN).
FALLBACK_EXTRACTOR = "dlib-resnet"


def build_cloak_detector(spec_text: str) -> CloakDetector:
    """`2-means`, `2-means:threshold=3`, `target-closeness`, `2-means:extractor=dlib-resnet`."""
    return build_registered(registered("cloak detector"), parse_spec(spec_text), "cloak detector")


def features_model(chosen: ExtractorSpec | None, tracker: object) -> tuple[ExtractorSpec, FaceDetector]:
    """(extractor, face detector) whose features a detector scores for `tracker`: the one it was
    told, else the tracker's own model and face detector, else dlib-resnet (on MTCNN)."""
    face_detector = getattr(tracker, "face_detector", None) or build_face_detector("mtcnn")
    return chosen or getattr(tracker, "extractor", None) or extractor_spec(FALLBACK_EXTRACTOR), face_detector


def tracker_features(photos: list[Path], labels: list[str], extractor: ExtractorSpec, face_detector: FaceDetector
                     ) -> tuple[np.ndarray, list[str], list[Path]]:
    """The features a tracker on `extractor` and `face_detector` sees, for the photos that have a face."""
    embedded = _feature_pipeline(extractor, face_detector).embed_cached(photos,
                                                                        description="features for cloak detection")
    label_of = dict(zip(photos, labels))
    return embedded.embeddings, [label_of[p] for p in embedded.paths], embedded.paths


def features_key(extractor: ExtractorSpec, face_detector: FaceDetector) -> tuple[str, str]:
    """Which features these are: the model's and the face detector's cache keys (two specs of one model agree)."""
    return extractor.cache_id, face_detector.cache_id


_pipelines: dict[tuple[str, str], FacePipeline] = {}


def _feature_pipeline(extractor: ExtractorSpec, face_detector: FaceDetector) -> FacePipeline:
    """One pipeline per model and detector in a process (its model loaded once), the two used last kept."""
    key = features_key(extractor, face_detector)
    pipeline = _pipelines.pop(key, None) or FacePipeline(extractor.load(), face_detector=face_detector.clone())
    _pipelines[key] = pipeline  # now the most recent
    while len(_pipelines) > 2:
        _pipelines.pop(next(iter(_pipelines)))
    return pipeline


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


__all__ = ["BUILT_IN", "CloakDetector", "build_cloak_detector", "detection_record", "features_key", "features_model",
           "tracker_features"]
