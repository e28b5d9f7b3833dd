"""`detect-and-drop`: a tracker that spots cloaked classes and trains without the photos it suspects."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.extractors import ExtractorSpec
from audit.plugins import Nested
from countermeasures.adaptive.base import AdaptiveCountermeasure, Selection
from countermeasures.cloak_detectors import CloakDetector, features_model, tracker_features
from trackers.base import Tracker


class DetectAndDrop(AdaptiveCountermeasure):
    """Drops the suspect photos of every class a cloak detector flags (Fawkes §8), then trains.

    Within a flagged class, 2-means splits the photos and the looser cluster goes: a person's
    clean photos sit close together, while an untargeted cloak pushes each photo its own way.
    (On LFW against `fawkes:mode=high` at leak ratio 0.5, the cloaked photos formed the looser
    cluster for each of 5 users.) `cloak_detector` is a cloak detector spec, e.g. `2-means:threshold=3`;
    the features are the tracker's own model's unless `extractor=` names another.
    """

    name = "detect-and-drop"
    drops_photos = True
    renamed = {"detector": "cloak_detector"}
    cloak_detector = Nested("cloak detector")
    extractor = Nested("extractor")

    def __init__(self, cloak_detector: str | CloakDetector = "2-means", extractor: str | ExtractorSpec | None = None,
                 seed: int = 0) -> None:
        """cloak_detector: the cloak detector that flags classes (2-means, target-closeness, with its options)
        extractor: the model whose features it clusters (none: each tracker's own)
        seed: the 2-means split of a flagged class"""
        self.cloak_detector = cloak_detector
        self.extractor = extractor
        self.seed = seed

    def notes(self, tracker: Tracker) -> dict[str, object]:
        return {"extractor": features_model(self.extractor, tracker)[0].spec}

    def select(self, photos: list[Path], labels: list[str], tracker: Tracker) -> Selection:
        features, kept_labels, kept_paths = tracker_features(photos, labels, *features_model(self.extractor, tracker))
        dropped = self.suspects(features, kept_labels, kept_paths)
        kept = [(p, label) for p, label in zip(photos, labels) if p not in dropped]
        return Selection([p for p, _ in kept], [label for _, label in kept], dropped)

    def suspects(self, features: np.ndarray, labels: list[str], paths: list[Path]) -> dict[Path, str]:
        """The photos in the looser 2-means cluster of each flagged class, with the reason."""
        detector = self.cloak_detector.clone().fit(features, labels)
        names = np.asarray(labels)
        from sklearn.cluster import KMeans  # imported on use: a run without this countermeasure skips sklearn

        dropped: dict[Path, str] = {}
        for name in sorted(detector.flagged()):
            rows = np.flatnonzero(names == name)
            if len(rows) < 2:
                continue
            points = features[rows]
            clusters = KMeans(2, n_init=10, random_state=self.seed).fit(points)
            spread = [np.linalg.norm(points[clusters.labels_ == k] - clusters.cluster_centers_[k], axis=1).mean()
                      for k in range(2)]
            reason = (f"{self.name}: class {name} flagged by {self.cloak_detector.spec} "
                      f"(score {detector.score(name):.1f}); "
                      "photo in its looser cluster")
            dropped |= {paths[i]: reason for i in rows[clusters.labels_ == int(np.argmax(spread))]}
        return dropped
