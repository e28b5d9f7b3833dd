"""What every cloak detector provides: scikit-learn style, `fit` on a tracker's features, then scores."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np


class Detector(ABC):
    """Scores each class for how likely its photos were cloaked (higher = more suspicious).

    Constructor arguments are hyperparameters; `fit(features, labels)` sets `scores_`, one
    score per class, standardised against the other classes so one `threshold` fits any data.
    """

    name: ClassVar[str]

    def __init__(self, threshold: float = 3.0) -> None:
        self.threshold = threshold
        self.scores_: dict[str, float] = {}

    @abstractmethod
    def params(self) -> dict[str, object]: ...

    @abstractmethod
    def class_statistics(self, features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """One raw statistic per class, larger = more suspicious."""

    def fit(self, features: np.ndarray, labels: list[str]) -> Detector:
        raw = self.class_statistics(np.asarray(features, np.float64), np.asarray(labels))
        self.scores_ = {name: standardise(value, [v for k, v in raw.items() if k != name])
                        for name, value in raw.items()}
        return self

    def score(self, label: str) -> float:
        return self.scores_[label]

    def flagged(self) -> set[str]:
        return {name for name, value in self.scores_.items() if value >= self.threshold}

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in {**self.params(), "threshold": self.threshold}.items())
        return f"{type(self).__name__}({options})"


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
