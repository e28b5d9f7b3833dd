"""Countermeasures: what a tracker does to fight cloaks — transforms of its photos and cloak detectors."""

from countermeasures.detectors import Detector, available_detectors, build_detector
from countermeasures.transforms import Transform, available_transforms, build_transforms

__all__ = ["Detector", "Transform", "available_detectors", "available_transforms", "build_detector",
           "build_transforms"]
