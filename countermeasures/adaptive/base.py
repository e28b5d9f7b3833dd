"""Countermeasures that change how the tracker learns, not the pixels it sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from audit.cloakers import Cloaker
from audit.protocol import Protocol
from audit.records import Skip
from countermeasures.base import Countermeasure

if TYPE_CHECKING:
    from trackers.base import Tracker


@dataclass
class Selection:
    """The training photos a tracker keeps, and why it left out the others."""

    photos: list[Path]
    labels: list[str]
    dropped: dict[Path, str] = field(default_factory=dict)


class AdaptiveCountermeasure(Countermeasure):
    """An adaptive tracker (Radiya-Dixit & Tramèr): one that knows cloaks exist and acts on it.

    The runner calls `prepare` once per scenario with the run's trackers, fits the tracker
    `tracker_for` gives on `select`'s photos; the defaults change nothing. Each works with the model
    of the tracker it serves unless its own `extractor=` says otherwise.
    """

    drops_photos: ClassVar[bool] = False  # whether `select` can leave photos out (reported per fit)
    # whether `tracker_for` swaps the tracker's extractor (embeddings computed beforehand no longer fit it)
    changes_extractor: ClassVar[bool] = False

    def prepare(self, protocol: Protocol, cloaker: Cloaker, skipped: list[Skip], trackers: list[Tracker]) -> None:
        """Work done once before any tracker trains (robust retraining fine-tunes here)."""

    def tracker_for(self, tracker: Tracker) -> Tracker:
        """A fresh tracker to fit in place of `tracker` (its clone, unless the countermeasure changes it)."""
        return tracker.clone()

    def select(self, photos: list[Path], labels: list[str], tracker: Tracker) -> Selection:
        """The training photos `tracker` keeps."""
        return Selection(photos, labels)

    def notes(self, tracker: Tracker) -> dict[str, object]:
        """What it did for `tracker`, for the report (which model it used, what it trained)."""
        return {}

    def derived_from(self, tracker: Tracker) -> str:
        """The model the tracker `tracker_for` gives descends from, as `Tracker.model` names it: a copy fine-tuned
        from a model the cloak was made on is a white-box test, not a transfer one."""
        return tracker.model
