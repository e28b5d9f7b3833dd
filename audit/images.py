"""Loading photos safely: every way a file can be unusable becomes a specific skip reason."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Larger photos are refused before decoding (a decompression-bomb guard): 64 megapixels is
# far above any camera photo a tracker would scrape, and far below a bomb's 400.
MAX_PIXELS = 64_000_000


class PhotoSkipped(Exception):
    """A photo that cannot be used, with the reason recorded in reports."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode bytes into an upright H×W×3 uint8 RGB array, or raise PhotoSkipped."""
    if not data:
        raise PhotoSkipped("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise PhotoSkipped(f"image too large ({width}x{height} pixels, limit {max_pixels:,})")
            image.load()
    except PhotoSkipped:
        raise
    except UnidentifiedImageError:
        raise PhotoSkipped("not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoSkipped("image too large (decompression-bomb guard)") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise PhotoSkipped(f"truncated or corrupt image ({err})") from None
    image = ImageOps.exif_transpose(image)
    return to_rgb(image)


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode to 8-bit RGB: alpha is composited on white, 16-bit is scaled, not clipped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def read_image(path: str | Path) -> np.ndarray:
    """Read and decode a photo file (see `decode_image`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise PhotoSkipped(f"unreadable file ({err.strerror or err})") from None
    return decode_image(data)


OUTPUT_FORMATS = {"png": ".png", "jpeg": ".jpg"}


def encode_image(image: np.ndarray, fmt: str = "png", quality: int = 95) -> bytes:
    """Encode an H×W×3 uint8 photo as posted: lossless PNG, or baseline JPEG at `quality`."""
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; use png or jpeg")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must lie in 1..100, not {quality}")
    buffer = io.BytesIO()
    if fmt == "png":
        Image.fromarray(image).save(buffer, format="PNG")
    else:
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
