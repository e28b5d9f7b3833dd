"""Transform registry: `--countermeasure blur:kernel=3,5,7` builds one transform per swept value."""

from __future__ import annotations

from audit.options import construct, parse_sweep
from countermeasures.transforms.augment import Augmentation
from countermeasures.transforms.base import Transform
from countermeasures.transforms.blur import GaussianBlur
from countermeasures.transforms.jpeg import JpegCompression
from countermeasures.transforms.noise import GaussianNoise
from countermeasures.transforms.none import NoTransform

TRANSFORMS: dict[str, type[Transform]] = {cls.name: cls for cls in (NoTransform, GaussianBlur, GaussianNoise,
                                                                     JpegCompression, Augmentation)}


def available_transforms() -> dict[str, str]:
    return {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in TRANSFORMS.items()}


def build_transforms(spec_text: str) -> list[Transform]:
    """`jpeg:quality=10,30,at=train,test` → [jpeg quality 10, jpeg quality 30], both at train and test."""
    built = []
    for spec in parse_sweep(spec_text, sets=("at",)):
        if spec.name not in TRANSFORMS:
            raise ValueError(f"unknown countermeasure {spec.name!r}; available: {', '.join(TRANSFORMS)}")
        built.append(construct(TRANSFORMS[spec.name], spec.name, dict(spec.options)))
    return built


__all__ = ["Transform", "available_transforms", "build_transforms"]
