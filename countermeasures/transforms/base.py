"""What every transform provides: a photo in, the photo as the tracker will train (or query) on."""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from typing import ClassVar

import numpy as np

from countermeasures.base import Countermeasure

STAGES = ("train", "test")


class Transform(Countermeasure):
    """A tracker-side image transform (Fawkes §8), applied to whole photos before detection.

    Constructor arguments are the transform's parameters (scikit-learn style); `at` says
    whether it touches the training photos, the test photos, or both (`at=[train,test]`).
    Randomness is seeded by the photo's content, so a transformed photo is the same on every run.
    """

    name: ClassVar[str]
    # True when the transformed copies join the originals instead of replacing them (augmentation)
    adds_copies: ClassVar[bool] = False
    changes_pixels: ClassVar[bool] = True

    def __init__(self, at: str = "train") -> None:
        """at: the photos it transforms: train (what the tracker collects), test (what it is asked about), or
          train,test (written [train,test] inside a spec)"""
        self.at = at
        if any(s not in STAGES for s in self.stages) or len(set(self.stages)) < len(self.stages):
            raise ValueError(f"{self.name}: at={at!r}; use train, test or train,test")

    @property
    def stages(self) -> tuple[str, ...]:
        """Where it applies: the training photos, the test photos, or both."""
        return tuple(s.strip() for s in self.at.split(","))

    @abstractmethod
    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The transformed H×W×3 uint8 photo (same size)."""

    def __call__(self, image: np.ndarray, key: str) -> np.ndarray:
        digest = hashlib.sha256(f"{self.cache_key}|{key}".encode()).digest()
        return self.apply(image, np.random.default_rng(int.from_bytes(digest[:8], "little")))

    def draws(self) -> list[Transform]:
        """The transforms whose outputs join the originals (an augmentation's copies)."""
        return [self]

    @property
    def cache_key(self) -> str:
        """What makes its output unique: every option (an augmentation adds which draw it is)."""
        return self.cache_id
