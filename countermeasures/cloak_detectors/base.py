"""What every cloak detector provides: scikit-learn style, `fit` on a tracker's features, then scores."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from audit.extractors import ExtractorSpec
from audit.plugins import Nested, Plugin


class CloakDetector(Plugin, ABC):
    """Scores each class for how likely its photos were cloaked (higher = more suspicious).

    Constructor arguments are hyperparameters; `fit(features, labels)` sets `scores_`, one
    score per class, standardised against the other classes so one `threshold` fits any data.
    `extractor` names the model whose features it scores; unset, it scores the features of
    the tracker it serves (each tracker's own model, when a run has several).
    """

    name: ClassVar[str]
    extractor = Nested("extractor")

    def __init__(self, threshold: float = 3.0, extractor: str | ExtractorSpec | None = None) -> None:
        """threshold: the score (robust standard deviations above the other classes) from which a class is flagged
        extractor: the model whose features it scores (none: the tracker's own)"""
        self.threshold = threshold
        self.extractor = extractor
        self.scores_: dict[str, float] = {}

    @abstractmethod
    def class_statistics(self, features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """One raw statistic per class, larger = more suspicious."""

    def fit(self, features: np.ndarray, labels: list[str]) -> CloakDetector:
        raw = self.class_statistics(np.asarray(features, np.float64), np.asarray(labels))
        self.scores_ = {name: standardise(value, [v for k, v in raw.items() if k != name])
                        for name, value in raw.items()}
        return self

    def score(self, label: str) -> float:
        return self.scores_[label]

    def flagged(self) -> set[str]:
        return {name for name, value in self.scores_.items() if value >= self.threshold}


def standardise(value: float, others: list[float]) -> float:
    """How many standard deviations `value` lies above the other classes' values.

    The centre and spread are the median and the MAD (scaled to a normal σ): the other classes
    include the other protected users, and a plain mean and σ would let them hide each other.
    """
    if len(others) < 2:
        return 0.0
    centre = float(np.median(others))
    spread = 1.4826 * float(np.median(np.abs(np.asarray(others) - centre)))
    return (value - centre) / spread if spread > 0 else 0.0
