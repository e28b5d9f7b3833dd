"""Data augmentation (Fawkes §8): random rotations, shifts, zooms and flips of the training photos.

The ranges are Keras ImageDataGenerator's as Fawkes used them: rotation ±20°, shifts ±15% of
the width and height, zoom 0.85–1.15 per axis, horizontal flips, nearest-edge fill.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from countermeasures.transforms.base import Transform


class Augmentation(Transform):
    """`copies` randomly transformed copies of each training photo, added beside the original (training photos only)."""

    name = "augment"
    adds_copies = True

    def __init__(self, copies: int = 1, rotation: float = 20.0, shift: float = 0.15, zoom: float = 0.15,
                 flip: bool = True) -> None:
        """copies: transformed copies added per training photo
        rotation: the largest rotation, in degrees either way
        shift: the largest shift, a share of the photo's side
        zoom: the largest zoom in or out, a share of the photo's size
        flip: mirror half of the copies"""
        super().__init__("train")
        if copies < 1:
            raise ValueError(f"augment: copies={copies} must be at least 1")
        if not (0 <= rotation <= 180 and 0 <= shift < 1 and 0 <= zoom < 1):
            raise ValueError("augment: rotation in 0..180 degrees, shift and zoom in [0, 1)")
        self.copies = copies
        self.rotation, self.shift, self.zoom, self.flip = rotation, shift, zoom, flip
        self.draw = 0

    @property
    def cache_key(self) -> str:
        return f"{self.cache_id}|draw={self.draw}"

    def draws(self) -> list[Transform]:
        """One transform per copy, each drawing different random parameters for the same photo."""
        result = []
        for draw in range(self.copies):
            copy = Augmentation(self.copies, self.rotation, self.shift, self.zoom, self.flip)
            copy.draw = draw
            result.append(copy)
        return result

    def matrix(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """A random 2×3 affine map of pixel coordinates about the photo's centre."""
        angle = math.radians(rng.uniform(-self.rotation, self.rotation))
        zoom_x, zoom_y = rng.uniform(1 - self.zoom, 1 + self.zoom, size=2)
        shift_x, shift_y = rng.uniform(-self.shift, self.shift, size=2) * (width, height)
        mirror = -1.0 if self.flip and rng.random() < 0.5 else 1.0
        cos, sin = math.cos(angle), math.sin(angle)
        linear = np.array([[cos, -sin], [sin, cos]]) @ np.diag([zoom_x * mirror, zoom_y])
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
        offset = centre + (shift_x, shift_y) - linear @ centre
        return np.hstack([linear, offset[:, None]])

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import kornia  # imported on use: runs without augmentation never load it

        height, width = image.shape[:2]
        matrix = torch.from_numpy(self.matrix(height, width, rng)).float()[None]
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        warped = kornia.geometry.transform.warp_affine(pixels, matrix, (height, width), mode="bilinear",
                                                       padding_mode="border", align_corners=True)
        return warped[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
