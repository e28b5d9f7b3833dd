"""JPEG re-encoding, as photo sites do on upload (Fawkes §8 sweeps quality 5–95)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from countermeasures.transforms.base import Transform


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode as a progressive JPEG (4:2:0, libjpeg via Pillow) and decode again."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, progressive=True, optimize=True)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB")).copy()


class JpegCompression(Transform):
    """A real progressive JPEG encode and decode at `quality` (1–95)."""

    name = "jpeg"

    def __init__(self, quality: int = 75, at: str = "train") -> None:
        """quality: the JPEG quality, 1–95 (lower: stronger compression)"""
        super().__init__(at)
        if not 1 <= quality <= 95:
            raise ValueError(f"jpeg: quality={quality} must lie in 1..95 (higher values are not JPEG-like)")
        self.quality = quality

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return jpeg_round_trip(image, self.quality)
