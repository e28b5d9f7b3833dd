"""Countermeasures: what a tracker does to fight cloaks (transforms now; detectors and robust retraining next)."""

from countermeasures.transforms import Transform, available_transforms, build_transforms

__all__ = ["Transform", "available_transforms", "build_transforms"]
