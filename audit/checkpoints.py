"""Finished cells on disk, one JSON file each, written atomically the moment a cell finishes, under a key that
changes whenever anything that determines the cell does.

A run killed by anything (Ctrl-C, an exception, SIGKILL, the out-of-memory killer) leaves
every finished cell whole: a file is either absent or complete, because it is written under a
temporary name and renamed into place. A re-run with the same plan reads them back instead of
computing them again. A cell's key digests the photos it reads, the protocol, the plugins' cache identities
with their revisions, and the code that computes it, so a finished cell is never reused once any of those
changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from audit.datasets.distractors import NO_DISTRACTORS, Distractors
from audit.protocol import Protocol
from audit.records import CellCounts, CellResult, Skip, from_json, record, to_json

# the packages whose code computes a cell; reports/ only renders it, so editing a renderer keeps the cells
COMPUTING_PACKAGES = ("audit", "trackers", "countermeasures", "cloud_clients")


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


def cell_key(where: str, material: Mapping[str, object], countermeasure_id: str, tracker_id: str) -> str:
    """A readable, filesystem-safe name for a cell (`where` it sits, then its tracker and countermeasure) and a
    digest of `material` (what the command says determines the cell), the plugins' cache keys and the code."""
    material = {**material, "code": code_digest(), "countermeasure": countermeasure_id, "tracker": tracker_id}
    digest = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:20]
    readable = "-".join(safe_name(part) for part in (tracker_id.split("|")[0], countermeasure_id.split("|")[0]))
    return f"{where}-{readable[:80]}-{digest}"


def safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._" else "_" for c in text.split(":")[0])


def protocol_digest(protocol: Protocol, distractors: Distractors = NO_DISTRACTORS) -> str:
    """The photos a cell reads, by name and size in their roles (train, test, leaked, public, protected,
    distractors), and any precomputed distractor embeddings by content: a changed data set changes the key
    without re-reading every photo."""
    def files(groups: Mapping[str, list[Path]]) -> list:
        return [[name, [[f"{p.parent.name}/{p.name}", p.stat().st_size] for p in paths]]
                for name, paths in sorted(groups.items())]

    roles = {"train": files(protocol.train), "test": files(protocol.test), "leaked": files(protocol.leaked),
             "public": files(protocol.public), "protected": protocol.protected}
    if distractors.photos:  # absent when there are none, so keys of runs without distractors stay as they were
        roles["distractors"] = files(distractors.photos)
    if distractors.embedded is not None:
        roles["distractor_embeddings"] = distractors.embedded.digest
    return hashlib.sha256(json.dumps(roles).encode()).hexdigest()


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The source of the packages that compute a cell: any change to them retires every old cell."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in COMPUTING_PACKAGES:
        for source in sorted((root / package).rglob("*.py")):
            digest.update(str(source.relative_to(root)).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()
