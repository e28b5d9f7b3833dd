"""Tracker simulators: registry names to classes, built from `name:key=value` options."""

from __future__ import annotations

from audit.options import construct, parse_spec
from trackers.base import EmbeddingTracker, Ranking, Tracker
from trackers.faiss_search import FaissTracker
from trackers.linear_probe import LinearProbeTracker

TRACKERS: dict[str, type[Tracker]] = {cls.name: cls for cls in (FaissTracker, LinearProbeTracker)}


def available_trackers() -> dict[str, str]:
    return {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in TRACKERS.items()}


def build_tracker(spec_text: str) -> Tracker:
    """`faiss`, `faiss:index=hnsw,k=3`, `linear-probe:head=softmax,extractor=facenet-vggface2`, ..."""
    spec = parse_spec(spec_text)
    if spec.name not in TRACKERS:
        raise ValueError(f"unknown tracker {spec.name!r}; available: {', '.join(TRACKERS)}")
    if spec.positional is not None:
        raise ValueError(f"{spec_text!r}: tracker options need a key (key=value)")
    return construct(TRACKERS[spec.name], spec.name, spec.options)


__all__ = ["EmbeddingTracker", "Ranking", "TRACKERS", "Tracker", "available_trackers", "build_tracker"]
