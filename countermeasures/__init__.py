"""Countermeasures: what a tracker does to fight cloaks.

`transforms/` change the pixels the tracker trains (or queries) on, `adaptive/` change how it
learns (dropping suspect photos, robust retraining), and `cloak_detectors/` score how
detectable a cloak is.
"""

from __future__ import annotations

from audit.options import parse_sweep
from audit.plugins import build_registered, registered
from countermeasures.adaptive import ADAPTIVE, AdaptiveCountermeasure
from countermeasures.base import Countermeasure
from countermeasures.cloak_detectors import CloakDetector, build_cloak_detector
from countermeasures.transforms import TRANSFORMS, Transform

BUILT_IN: dict[str, type[Countermeasure]] = {**TRANSFORMS, **ADAPTIVE}


def build_countermeasures(spec_text: str) -> list[Countermeasure]:
    """`--countermeasure` values, one countermeasure per swept setting: `blur:kernel=3,5,7`,
    `jpeg:quality=10,30,at=[train,test]` (`at` is one value: the stages), `detect-and-drop:cloak_detector=2-means`."""
    name = spec_text.partition(":")[0].strip()
    known = registered("countermeasure")
    if name not in known:
        raise ValueError(f"unknown countermeasure {name!r}; available: {', '.join(known)}")
    sets = ("at",) if issubclass(known[name], Transform) else ()
    return [build_registered(known, spec, "countermeasure") for spec in parse_sweep(spec_text, sets=sets).specs()]


def build_countermeasure(spec_text: str) -> Countermeasure:
    """One countermeasure, from a spec that sweeps nothing."""
    built = build_countermeasures(spec_text)
    if len(built) != 1:
        raise ValueError(f"{spec_text}: sweeps {len(built)} settings; give one")
    return built[0]


__all__ = ["BUILT_IN", "AdaptiveCountermeasure", "CloakDetector", "Countermeasure", "Transform",
           "build_cloak_detector", "build_countermeasure", "build_countermeasures"]
