"""Countermeasures that change how the tracker learns, not the pixels it sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from audit.cloakers import Cloaker
from audit.protocol import Protocol
from countermeasures.base import Countermeasure


@dataclass
class Selection:
    """The training photos a tracker keeps, and why it left out the others."""

    photos: list[Path]
    labels: list[str]
    dropped: dict[Path, str] = field(default_factory=dict)


class AdaptiveCountermeasure(Countermeasure):
    """An adaptive tracker (Radiya-Dixit & Tramèr): one that knows cloaks exist and acts on it.

    The runner calls `prepare` once per scenario, builds each tracker from `tracker_spec`,
    and trains it on `select`'s photos; the defaults change nothing.
    """

    drops_photos: ClassVar[bool] = False  # whether `select` can leave photos out (reported per fit)

    def prepare(self, protocol: Protocol, cloaker: Cloaker, skipped: list[dict]) -> None:
        """Work done once before any tracker trains (robust retraining fine-tunes here)."""

    def tracker_spec(self, spec: str) -> str:
        """The tracker to build instead of `spec`."""
        return spec

    def select(self, photos: list[Path], labels: list[str]) -> Selection:
        """The training photos to keep."""
        return Selection(photos, labels)

    def notes(self) -> dict[str, object]:
        """What `prepare` did, for the report."""
        return {}
