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
    whether it touches the training photos, the test photos, or both. Randomness is seeded by
    the photo's content, so a transformed photo is the same on every run.
    """

    name: ClassVar[str]
    # True when the transformed copies join the originals instead of replacing them (augmentation)
    adds_copies: ClassVar[bool] = False
    changes_pixels: ClassVar[bool] = True

    def __init__(self, at: str = "train") -> None:
        stages = tuple(s.strip() for s in at.split(",") if s.strip())
        if not stages or any(s not in STAGES for s in stages):
            raise ValueError(f"{self.name}: at={at!r}; use train, test or train,test")
        self.at = stages

    @abstractmethod
    def params(self) -> dict[str, object]:
        """The options that change the pixels (not `at`)."""

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
    def label(self) -> str:
        """How results name it: the spec, and where it applies unless that is the training photos alone."""
        return self.spec if self.at == ("train",) else f"{self.spec} (at {','.join(self.at)})"

    @property
    def cache_key(self) -> str:
        """What makes its output unique: the spec (an augmentation adds which draw it is)."""
        return self.spec

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in {**self.params(), "at": ",".join(self.at)}.items())
        return f"{type(self).__name__}({options})"
