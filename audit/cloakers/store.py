"""Cloaked photos on disk, keyed by the original's content and the cloaker's exact parameters, each
with what its cloak costs the photo (measured once: a warm run reads it back).

A user's photos are cloaked a chunk at a time (here or on a cluster: the executor decides) and
each chunk reaches the store as soon as it is done, so an interrupted run redoes only the chunks
that were under way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tqdm import tqdm

from audit.cloakers.base import Cloaker
from audit.costs import cost_or_reason
from audit.digests import file_digest
from audit.paths import atomic_write_bytes, cache_dir
from audit.perceptual import PerceptualCost

# one cloak call's chunk, the cloaked file (still on disk while the caller stores it) or reason per photo, and
# the cloaker's seconds per photo
CloakedChunk = tuple[list[Path], dict[Path, Path | str], float]
# cloaks chunks of photos somewhere (an executor's `cloak`): (cloaker, chunks, folder, public) → chunks as they end
ChunkCloaking = Callable[[Cloaker, list[list[Path]], Path, dict[str, list[Path]]], Iterator[CloakedChunk]]


def cloak_here(cloaker: Cloaker, chunks: list[list[Path]], folder: Path,
               public: dict[str, list[Path]]) -> Iterator[CloakedChunk]:
    """Each chunk in this process, one after another; its files wait in `folder` until the caller stores them."""
    for chunk in chunks:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".work-") as work:
            began = time.perf_counter()
            results = cloaker.cloak(chunk, Path(work))
            yield chunk, results, (time.perf_counter() - began) / len(chunk)


@dataclass(frozen=True)
class CloakOutcome:
    """A cloaked file (or the reason there is none), the cloaker's seconds for it, and its perceptual cost
    (or why the copy cannot be compared with the original; None where the photo is unchanged)."""

    path: Path | None
    reason: str | None
    seconds: float
    cost: PerceptualCost | str | None = None


class CloakStore:
    def __init__(self, cloaker: Cloaker, root: Path | None = None, chunk: int | None = None) -> None:
        self.cloaker = cloaker
        key = hashlib.sha256(cloaker.cache_id.encode()).hexdigest()[:24]
        self.folder = (root or cache_dir() / "cloaked") / key
        # photos per cloak call, each call's results stored as it ends: the cloaker's own batch, so that a
        # user's photos share one optimisation (LFW's users have ≤ 32), else 16
        self.chunk = chunk or getattr(cloaker, "batch_size", 16)

    def cloak_user(self, photos: list[Path], user: str, progress: tqdm | None = None) -> dict[Path, CloakOutcome]:
        """Cloak one user's photos here, reusing every photo already in the store."""
        return self.cloak_users({user: photos}, cloak_here, progress)[user]

    def cloak_users(self, photos: dict[str, list[Path]], cloak: ChunkCloaking, progress: tqdm | None = None,
                    public: dict[str, list[Path]] | None = None) -> dict[str, dict[Path, CloakOutcome]]:
        """Cloak each user's photos with `cloak` (here, or an executor's), reusing every photo already in the store;
        each chunk is stored the moment it comes back. `public` are the identities a targeted cloaker picks from."""
        if not self.cloaker.writes_files:
            return {user: {p: _measured(p, CloakOutcome(*_as_outcome(r), 0.0))
                           for p, r in self.cloaker.cloak(paths, Path()).items()} for user, paths in photos.items()}
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "cloaker.txt").write_text(repr(self.cloaker) + "\n")
        digests: dict[Path, str] = {}
        outcome: dict[Path, CloakOutcome] = {}
        chunks: list[list[Path]] = []
        for paths in photos.values():
            user_digests = self._digests(paths)
            digests.update(user_digests)
            outcome.update({p: found for p in paths if (found := self._lookup(user_digests[p])) is not None})
            missing = [p for p in paths if p not in outcome]
            chunk = max(1, len(missing) if self.cloaker.depends_on_user_photos else self.chunk)
            chunks += [missing[start : start + chunk] for start in range(0, len(missing), chunk)]
        if progress is not None:
            progress.update(len(outcome))
        for chunk, results, seconds in cloak(self.cloaker, chunks, self.folder, public or {}):
            for photo in chunk:
                if photo not in results:
                    raise RuntimeError(f"cloaker {self.cloaker!r} returned nothing for {photo}")
                outcome[photo] = self._store(digests[photo], results[photo], seconds)
            if progress is not None:
                progress.update(len(chunk))
        for photo, found in outcome.items():
            if found.path is not None and found.cost is None:
                outcome[photo] = self._with_cost(digests[photo], _measured(photo, found))
        return {user: {p: outcome[p] for p in paths} for user, paths in photos.items()}

    def _digests(self, photos: list[Path]) -> dict[Path, str]:
        """Each photo's key in the store: its content's digest, joined by the whole set's when the cloak depends on it."""
        digests = {p: file_digest(p) for p in photos}
        if self.cloaker.depends_on_user_photos:
            context = hashlib.sha256("".join(sorted(digests.values())).encode()).hexdigest()[:16]
            digests = {p: f"{d}-{context}" for p, d in digests.items()}
        return digests

    def _lookup(self, digest: str) -> CloakOutcome | None:
        meta = self.folder / f"{digest}.json"
        if not meta.exists():
            return None
        record = json.loads(meta.read_text())
        if record["file"] is None:
            return CloakOutcome(None, record["reason"], record["seconds"])
        path = self.folder / record["file"]
        cost = record.get("cost")
        if isinstance(cost, dict):  # kept before LPIPS was measured, or where it could not be: measured again
            cost = PerceptualCost(**cost) if cost.get("lpips") is not None else None
        return CloakOutcome(path, None, record["seconds"], cost) if path.exists() else None

    def _store(self, digest: str, result: Path | str, seconds: float) -> CloakOutcome:
        record: dict[str, object] = {"file": None, "reason": None, "seconds": seconds}
        if isinstance(result, str):
            record["reason"] = result
        else:
            name = f"{digest}{result.suffix.lower()}"
            shutil.copyfile(result, self.folder / f".{name}.part")
            os.replace(self.folder / f".{name}.part", self.folder / name)
            record["file"] = name
        # the record is written last: a crash before it leaves the photo to be cloaked again
        atomic_write_bytes(self.folder / f"{digest}.json", json.dumps(record).encode())
        return self._lookup(digest) or CloakOutcome(None, "cloaked file vanished from the store", seconds)

    def _with_cost(self, digest: str, outcome: CloakOutcome) -> CloakOutcome:
        """`outcome`, its cost now kept in its record (rewritten whole, so a crash leaves the old one)."""
        meta = self.folder / f"{digest}.json"
        record = json.loads(meta.read_text())
        record["cost"] = asdict(outcome.cost) if isinstance(outcome.cost, PerceptualCost) else outcome.cost
        atomic_write_bytes(meta, json.dumps(record).encode())
        return outcome


def _measured(original: Path, outcome: CloakOutcome) -> CloakOutcome:
    """`outcome` with the cost of its copy measured against `original` (none for an unchanged photo)."""
    if outcome.path is None or outcome.path == original:
        return outcome
    return replace(outcome, cost=cost_or_reason(original, outcome.path))


def _as_outcome(result: Path | str) -> tuple[Path | None, str | None]:
    return (None, result) if isinstance(result, str) else (result, None)
