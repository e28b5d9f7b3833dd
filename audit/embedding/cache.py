"""The on-disk embedding cache: embeddings keyed by photo content hash and exact pipeline.

A failure that depends only on the photo and the pipeline (no face found, undecodable file)
is cached too, so a re-run redoes nothing. A `note` keeps how a result was made where a
report needs it (e.g. "centre crop" when no face was detected). SQLite gives atomic writes
and safe concurrent use. The faces themselves are cached a floor below, by `audit.face.cache`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np

from audit.paths import cache_dir

SCHEMA_VERSION = 2


class Cached(NamedTuple):
    value: np.ndarray | str  # an embedding, or the reason the photo was skipped
    note: str | None = None


class EmbeddingCache:
    # While `recording()` is open, every entry read from or put in any embedding cache of this process is
    # also kept there: a Ray worker sends the embeddings a cell used back to the driver's cache.
    _recorded: ClassVar[list[tuple[str, dict[str, Cached]]] | None] = None

    @classmethod
    @contextmanager
    def recording(cls) -> Iterator[list[tuple[str, dict[str, Cached]]]]:
        cls._recorded = entries = []
        try:
            yield entries
        finally:
            cls._recorded = None

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else cache_dir() / "embeddings.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            # an older layout: it is only a cache, so start afresh
            with self._db:
                self._db.execute("DROP TABLE IF EXISTS embeddings")
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (pipeline TEXT, photo TEXT, vector BLOB, skip TEXT,"
            " note TEXT, PRIMARY KEY (pipeline, photo))"
        )

    def get_many(self, pipeline: str, photos: list[str]) -> dict[str, Cached]:
        found: dict[str, Cached] = {}
        for start in range(0, len(photos), 500):
            chunk = photos[start : start + 500]
            rows = self._db.execute(
                "SELECT photo, vector, skip, note FROM embeddings"
                f" WHERE pipeline = ? AND photo IN ({','.join('?' * len(chunk))})",
                [pipeline, *chunk],
            )
            for photo, vector, skip, note in rows:
                value = skip if skip is not None else np.frombuffer(vector, dtype=np.float32).copy()
                found[photo] = Cached(value, note)
        self._record(pipeline, found)
        return found

    def put_many(self, pipeline: str, results: dict[str, Cached]) -> None:
        rows = []
        for photo, (value, note) in results.items():
            skipped = isinstance(value, str)
            vector = None if skipped else np.asarray(value, np.float32).tobytes()
            rows.append((pipeline, photo, vector, value if skipped else None, note))
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?)", rows)
        self._record(pipeline, results)

    @classmethod
    def _record(cls, pipeline: str, entries: dict[str, Cached]) -> None:
        if cls._recorded is not None and entries:
            cls._recorded.append((pipeline, dict(entries)))

    def count(self, pipeline: str | None = None) -> int:
        if pipeline is None:
            return self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM embeddings WHERE pipeline = ?", [pipeline]).fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "EmbeddingCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
