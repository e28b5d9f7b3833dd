"""Finished cells on disk, one JSON file each, written atomically the moment a cell finishes.

A run killed by anything (Ctrl-C, an exception, SIGKILL, the out-of-memory killer) leaves
every finished cell whole: a file is either absent or complete, because it is written under a
temporary name and renamed into place. A re-run with the same plan reads them back instead of
computing them again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from audit.records import CellCounts, CellResult, Skip, from_json, record, to_json


@record
class FinishedCell:
    """What a cell file holds: its key, the result, and the photos skipped on the way."""

    key: str
    result: CellResult
    skipped: tuple[Skip, ...]


class CellStore:
    """`folder/<cell key>.json`; None as the folder keeps nothing (a run without an output folder)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.reused = 0
        self.computed = 0

    def load(self, key: str) -> FinishedCell | None:
        """The finished cell, or None when it is absent, unreadable or of another shape (then it is computed again)."""
        if self.folder is None:
            return None
        try:
            cell = from_json(FinishedCell, json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):  # RecordError is a ValueError
            return None
        if cell.key != key:
            return None
        self.reused += 1
        return cell

    def save(self, key: str, result: CellResult, skipped: list[Skip]) -> FinishedCell:
        """Keep the finished cell; returns it as a re-run will read it back."""
        self.computed += 1
        text = json.dumps(to_json(FinishedCell(key=key, result=result, skipped=tuple(skipped))),
                          allow_nan=True, default=str)
        cell = from_json(FinishedCell, json.loads(text))
        if self.folder is None:
            return cell
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{key[:40]}", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.folder / f"{key}.json")
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return cell

    def summary(self) -> CellCounts:
        return CellCounts(total=self.reused + self.computed, reused=self.reused, computed=self.computed)
