"""What every countermeasure shares: options as constructor arguments, and the name reports use."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class Countermeasure(ABC):
    """A tracker's defence against cloaks (scikit-learn habits: the constructor takes the options)."""

    name: ClassVar[str]

    @abstractmethod
    def params(self) -> dict[str, object]:
        """The options that change the outcome."""

    @property
    def spec(self) -> str:
        """How reports name it: `jpeg:quality=10`."""
        options = ",".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.name}:{options}" if options else self.name

    @property
    def label(self) -> str:
        """How results name it (and tell two of them apart)."""
        return self.spec

    def check_tracker(self, tracker: object) -> None:
        """Raise ValueError if this countermeasure cannot work with `tracker`; most work with any."""

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({options})"
