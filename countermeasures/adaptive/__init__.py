"""Adaptive trackers (`--countermeasure detect-and-drop`, `robust-retraining:public_users=N,epochs=E`)."""

from __future__ import annotations

from audit.options import parse_sweep
from audit.plugins import build_registered, registry, summaries
from countermeasures.adaptive.base import AdaptiveCountermeasure, Selection
from countermeasures.adaptive.detect_and_drop import DetectAndDrop
from countermeasures.adaptive.robust_retraining import RobustRetraining

ADAPTIVE: dict[str, type[AdaptiveCountermeasure]] = registry(DetectAndDrop, RobustRetraining)


def available_adaptive() -> dict[str, str]:
    return summaries(ADAPTIVE)


def build_adaptive(spec_text: str) -> list[AdaptiveCountermeasure]:
    """`robust-retraining:public_users=10,20` → one countermeasure per swept value."""
    return [build_registered(ADAPTIVE, spec, "countermeasure") for spec in parse_sweep(spec_text)]


__all__ = ["ADAPTIVE", "AdaptiveCountermeasure", "DetectAndDrop", "RobustRetraining", "Selection", "available_adaptive",
           "build_adaptive"]
