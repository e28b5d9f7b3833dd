"""The built-in transforms (`--countermeasure blur:kernel=3,5,7` builds one per swept value: see `countermeasures`)."""

from __future__ import annotations

from audit.plugins import registry
from countermeasures.transforms.augment import Augmentation
from countermeasures.transforms.base import Transform
from countermeasures.transforms.blur import GaussianBlur
from countermeasures.transforms.jpeg import JpegCompression
from countermeasures.transforms.noise import GaussianNoise
from countermeasures.transforms.none import NoTransform

TRANSFORMS: dict[str, type[Transform]] = registry(NoTransform, GaussianBlur, GaussianNoise, JpegCompression,
                                                  Augmentation)


__all__ = ["TRANSFORMS", "Transform"]
