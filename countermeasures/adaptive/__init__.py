"""Adaptive trackers (`--countermeasure detect-and-drop`, `robust-retraining:public_users=N,epochs=E`)."""

from __future__ import annotations

from audit.plugins import registry
from countermeasures.adaptive.base import AdaptiveCountermeasure, Selection
from countermeasures.adaptive.detect_and_drop import DetectAndDrop
from countermeasures.adaptive.robust_retraining import RobustRetraining

ADAPTIVE: dict[str, type[AdaptiveCountermeasure]] = registry(DetectAndDrop, RobustRetraining)


__all__ = ["ADAPTIVE", "AdaptiveCountermeasure", "DetectAndDrop", "RobustRetraining", "Selection"]
