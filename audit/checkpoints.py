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


class CellStore:
    """`folder/<cell key>.json`; None as the folder keeps nothing (a run without an output folder)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.reused = 0
        self.computed = 0

    def load(self, key: str) -> dict | None:
        """The finished cell, or None when it is absent or unreadable (then it is computed again)."""
        if self.folder is None:
            return None
        try:
            record = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        self.reused += 1
        return record

    def save(self, key: str, record: dict) -> dict:
        """Keep the finished cell; returns it as a re-run will read it (JSON types: lists, not tuples)."""
        self.computed += 1
        record = json.loads(json.dumps({"key": key, **record}, allow_nan=True))
        if self.folder is None:
            return record
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{key[:40]}", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(record, stream, allow_nan=True)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.folder / f"{key}.json")
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return record

    def summary(self) -> dict[str, int]:
        return {"total": self.reused + self.computed, "reused": self.reused, "computed": self.computed}
