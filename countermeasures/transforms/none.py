"""The baseline every countermeasure is compared with."""

from __future__ import annotations

import numpy as np

from countermeasures.transforms.base import Transform


class NoTransform(Transform):
    """No countermeasure: the tracker trains on the photos as posted."""

    name = "none"
    changes_pixels = False

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return image
