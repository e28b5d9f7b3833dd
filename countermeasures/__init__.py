"""Countermeasures: what a tracker does to fight cloaks.

`transforms/` change the pixels the tracker trains (or queries) on, `adaptive/` change how it
learns (dropping suspect photos, robust retraining), and `cloak_detectors/` score how
detectable a cloak is.
"""

from __future__ import annotations

from audit.options import parse_spec
from countermeasures.adaptive import ADAPTIVE, AdaptiveCountermeasure, available_adaptive, build_adaptive
from countermeasures.base import Countermeasure
from countermeasures.cloak_detectors import CloakDetector, available_cloak_detectors, build_cloak_detector
from countermeasures.transforms import TRANSFORMS, Transform, available_transforms, build_transforms


def available_countermeasures() -> dict[str, str]:
    return {**available_transforms(), **available_adaptive()}


def build_countermeasures(spec_text: str) -> list[Countermeasure]:
    """`--countermeasure` values: `blur:kernel=3,5,7`, `detect-and-drop:cloak_detector=2-means`, ..."""
    name = parse_spec(spec_text).name
    if name in ADAPTIVE:
        return list(build_adaptive(spec_text))
    if name in TRANSFORMS:
        return list(build_transforms(spec_text))
    raise ValueError(f"unknown countermeasure {name!r}; available: {', '.join(available_countermeasures())}")


__all__ = ["AdaptiveCountermeasure", "CloakDetector", "Countermeasure", "Transform", "available_cloak_detectors",
           "available_countermeasures", "build_cloak_detector", "build_countermeasures"]
