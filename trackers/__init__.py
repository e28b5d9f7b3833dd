"""Tracker simulators: registry names to classes, built from `name:key=value` options."""

from __future__ import annotations

from audit.options import parse_spec
from audit.plugins import build_registered, registered, registry
from trackers.base import EmbeddingTracker, Ranking, Tracker
from trackers.cloud import AzureTracker, CloudTracker, FaceppTracker, RekognitionTracker
from trackers.faiss_search import FaissTracker
from trackers.linear_probe import LinearProbeTracker
from trackers.scratch import ScratchTracker

BUILT_IN: dict[str, type[Tracker]] = registry(FaissTracker, LinearProbeTracker, ScratchTracker, RekognitionTracker,
                                               AzureTracker, FaceppTracker)


def build_tracker(spec_text: str) -> Tracker:
    """`faiss`, `faiss:index=hnsw,k=3`, `linear-probe:head=softmax,extractor=facenet-vggface2`, ..."""
    return build_registered(registered("tracker"), parse_spec(spec_text), "tracker")


__all__ = ["BUILT_IN", "CloudTracker", "EmbeddingTracker", "Ranking", "Tracker", "build_tracker"]
