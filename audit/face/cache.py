"""The face each detector picked in a photo, on disk, so detection runs once per photo whatever embeds it
(another extractor, a cloaker and the trackers that embed its originals, a re-run)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from audit.face.detection import Face
from audit.paths import cache_dir


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
