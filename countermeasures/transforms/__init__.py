"""Transform registry: `--countermeasure blur:kernel=3,5,7` builds one transform per swept value."""

from __future__ import annotations

from audit.options import parse_sweep
from audit.plugins import build_registered, registry, summaries
from countermeasures.transforms.augment import Augmentation
from countermeasures.transforms.base import Transform
from countermeasures.transforms.blur import GaussianBlur
from countermeasures.transforms.jpeg import JpegCompression
from countermeasures.transforms.noise import GaussianNoise
from countermeasures.transforms.none import NoTransform

TRANSFORMS: dict[str, type[Transform]] = registry(NoTransform, GaussianBlur, GaussianNoise, JpegCompression,
                                                  Augmentation)


def available_transforms() -> dict[str, str]:
    return summaries(TRANSFORMS)


def build_transforms(spec_text: str) -> list[Transform]:
    """`jpeg:quality=10,30,at=train,test` → [jpeg quality 10, jpeg quality 30], both at train and test."""
    return [build_registered(TRANSFORMS, spec, "countermeasure") for spec in parse_sweep(spec_text, sets=("at",))]


__all__ = ["Transform", "available_transforms", "build_transforms"]
