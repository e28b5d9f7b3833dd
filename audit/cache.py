"""On-disk caches: embeddings keyed by photo content hash and exact pipeline, and the face each
detector picked in a photo (`FaceCache`), so detection runs once per photo whatever embeds it.

A failure that depends only on the photo and the pipeline (no face found, undecodable file)
is cached too, so a re-run redoes nothing. A `note` keeps how a result was made where a
report needs it (e.g. "centre crop" when no face was detected). SQLite gives atomic writes
and safe concurrent use.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np

from audit.face.detection import Face
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


class FaceCache:
    """The face a detector picked in a photo, keyed by the photo's pixels and the detector with its pick rule.

    Detection is most of the time of embedding a photo, and it does not depend on the extractor: a
    second extractor, a cloaker and the trackers that embed its originals, or a re-run, all reuse
    the first detection. Keyed by pixels, not by file, so a cloaked copy (other pixels) is
    detected anew, as a tracker would. One per cache folder per process (`shared`).
    """

    _open: ClassVar[dict[tuple[str | None, int], "FaceCache"]] = {}

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS faces (detector TEXT, photo TEXT, face TEXT,"
                         " PRIMARY KEY (detector, photo))")
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> "FaceCache":
        """The face cache of the current cache folder (`$AUDIT_CACHE`), opened once per process (a forked
        child opens its own: an SQLite connection must not cross a fork). Looked up by the setting as given:
        resolving the folder's path on every batch of photos cost a percent of detecting them."""
        key = (os.environ.get("AUDIT_CACHE"), os.getpid())
        if key not in cls._open:
            cls._open[key] = cls(cache_dir() / "faces.sqlite")
        return cls._open[key]

    @staticmethod
    def photo_key(image: np.ndarray) -> str:
        return hashlib.sha256(repr(image.shape).encode() + np.ascontiguousarray(image).tobytes()).hexdigest()

    def get_many(self, detector: str, photos: list[str]) -> dict[str, Face | None]:
        """The photos this detector has seen: each one's face, or None where it found none."""
        stored: dict[str, str | None] = {}
        with self._lock:
            for start in range(0, len(photos), 500):
                chunk = photos[start : start + 500]
                stored.update(self._db.execute(f"SELECT photo, face FROM faces WHERE detector = ? AND photo IN "
                                               f"({','.join('?' * len(chunk))})", [detector, *chunk]))
        return {photo: None if face is None else _face(json.loads(face)) for photo, face in stored.items()}

    def put_many(self, detector: str, faces: dict[str, Face | None]) -> None:
        """Keep each photo's face (None: none found), in one transaction."""
        rows = [(detector, photo, None if face is None else json.dumps(
            {"box": [float(v) for v in face.box], "score": face.score, "landmarks": face.landmarks.tolist()}))
            for photo, face in faces.items()]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO faces VALUES (?, ?, ?)", rows)


def _face(stored: dict) -> Face:
    return Face(tuple(stored["box"]), stored["score"], np.asarray(stored["landmarks"], dtype=np.float64))
