"""Fawkes §8's detector without originals: a cloak pulls a class towards its target's."""

from __future__ import annotations

import numpy as np

from countermeasures.cloak_detectors.base import CloakDetector


class TargetClosenessDetector(CloakDetector):
    """How unusually close a class's centroid sits to its nearest other class, in standard deviations.

    A targeted cloak moves a user's photos towards another identity, so the user's class
    ends up nearer to some other class than classes usually are.
    """

    name = "target-closeness"

    def class_statistics(self, features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        names = sorted(set(labels))
        centroids = np.stack([features[labels == name].mean(axis=0) for name in names])
        distances = np.linalg.norm(centroids[:, None] - centroids[None], axis=2)
        np.fill_diagonal(distances, np.inf)
        return {str(name): -float(distances[i].min()) for i, name in enumerate(names)}  # closer = larger
