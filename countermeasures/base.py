"""What every countermeasure shares: options as constructor arguments, and the name reports use."""

from __future__ import annotations

from abc import ABC
from typing import ClassVar

from audit.plugins import Plugin


class Countermeasure(Plugin, ABC):
    """A tracker's defence against cloaks (scikit-learn habits: the constructor takes the options)."""

    name: ClassVar[str]

    def check_tracker(self, tracker: object) -> None:
        """Raise ValueError if this countermeasure cannot work with `tracker`; most work with any."""
