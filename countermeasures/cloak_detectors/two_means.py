"""Fawkes §8's detector with leaked originals: a cloaked class splits into two clusters."""

from __future__ import annotations

import numpy as np

from countermeasures.cloak_detectors.base import CloakDetector


class TwoMeansDetector(CloakDetector):
    """2-means on each class's features; the centroid separation, in standard deviations of the other classes'.

    When a user's uncloaked photos leak beside cloaked ones, the cloaked photos sit far from
    the originals in feature space, so the class's two clusters are unusually far apart.
    """

    name = "2-means"

    def __init__(self, seed: int = 0, n_init: int = 10, **base: object) -> None:
        """seed: k-means's initialisation
        n_init: k-means's restarts (the best split is kept)"""
        super().__init__(**base)  # type: ignore[arg-type]
        if n_init < 1:
            raise ValueError(f"2-means: n_init={n_init} must be at least 1")
        self.seed = seed
        self.n_init = n_init

    def class_statistics(self, features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        from sklearn.cluster import KMeans  # imported on use, as every optional heavy module

        separations = {}
        for name in sorted(set(labels)):
            points = features[labels == name]
            if len(points) < 2:
                continue  # one photo has no second cluster
            centres = KMeans(2, n_init=self.n_init, random_state=self.seed).fit(points).cluster_centers_
            separations[str(name)] = float(np.linalg.norm(centres[0] - centres[1]))
        return separations
