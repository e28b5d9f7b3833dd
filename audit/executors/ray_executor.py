"""`--executor ray`: cloak jobs and cells as Ray tasks, on a running cluster or on a Ray instance
started for the run.

Nodes need no shared disk. A task receives the bytes of every photo it reads through Ray's object
store, writes them to a temporary folder of its own (keeping each photo's `identity/file` name, which
results show) and returns cloaked bytes, or a cell result with its skips and the embeddings it used;
the driver stores them (the cloak store, the cell checkpoints, its embedding cache) as each task
finishes. Each node keeps its own `$AUDIT_CACHE` (faces, transforms) unless it points at a shared folder.
A worker that dies mid-task is retried by Ray (`max_retries`); a task that still fails, or that no node has
been able to run for `lost_after` seconds (its node never came back), ends the run once the others have
finished, with everything finished kept.
"""

from __future__ import annotations

import hashlib
import importlib.util
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from audit.cells import CellJob, ScenarioCells, Timings, compute_cell, photos_of
from audit.checkpoints import CellStore, FinishedCell
from audit.cloakers import Cloaker
from audit.cloakers.store import CloakedChunk
from audit.devices import reuse_freed_memory
from audit.embedding.cache import Cached, EmbeddingCache
from audit.executors.base import Executor
from audit.records import Skip
from cloud_clients import CloudSession

# a cloaked photo as it travels back: the file's name and bytes, or why there is none
ShippedCloak = tuple[str, bytes] | str | None


class RayExecutor(Executor):
    """Cloak jobs and cells as Ray tasks: on the cluster at `address` (`auto`: the one `ray start` began
    on this machine; `HOST:PORT`; `ray://HOST:PORT`), else on a running local cluster or a Ray instance
    started for the run and stopped after it. Ray hides the GPUs from a task that asks for none, so a task's
    `device=auto` uses a GPU only with `num_gpus_per_cloak` / `num_gpus_per_cell` above 0."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus_per_cloak: float = 1, num_gpus_per_cloak: float = 0,
                 num_cpus_per_cell: float = 1, num_gpus_per_cell: float = 0, max_retries: int = 2,
                 lost_after: float = 300.0) -> None:
        """address: the cluster to join (auto: the one this machine belongs to; none: a Ray instance started for
          the run)
        num_cpus_per_cloak: CPUs each cloak job asks for
        num_gpus_per_cloak: GPUs each cloak job asks for (a share, e.g. 0.5, lets jobs share one)
        num_cpus_per_cell: CPUs each cell asks for
        num_gpus_per_cell: GPUs each cell asks for
        max_retries: times a job lost with its worker is run again
        lost_after: seconds a job may wait without a node able to run it before it counts as lost"""
        if min(num_cpus_per_cloak, num_gpus_per_cloak, num_cpus_per_cell, num_gpus_per_cell) < 0:
            raise ValueError("ray: num_cpus_per_cloak, num_gpus_per_cloak, num_cpus_per_cell and num_gpus_per_cell "
                             "cannot be negative")
        if max_retries < 0 or lost_after <= 0:
            raise ValueError("ray: max_retries cannot be negative, lost_after must be positive")
        if importlib.util.find_spec("ray") is None:  # said before any photo is read; imported when first used
            raise ValueError("--executor ray needs Ray: pip install 'cloak-audit[ray]'")
        self.address = address
        self.num_cpus_per_cloak = num_cpus_per_cloak
        self.num_gpus_per_cloak = num_gpus_per_cloak
        self.num_cpus_per_cell = num_cpus_per_cell
        self.num_gpus_per_cell = num_gpus_per_cell
        self.max_retries = max_retries
        self.lost_after = lost_after  # seconds without a node able to run what is left before the run ends
        self._connected = False

    def _ray(self) -> Any:
        """The ray module, connected (the first call connects, or starts a local instance)."""
        import ray

        if not ray.is_initialized():
            try:
                check_reachable(self.address)  # Ray itself retries an unreachable address for minutes
                ray.init(address=self.address, log_to_driver=False)
            except OSError as err:  # refused, timed out, unknown host; Ray: no cluster found
                raise ValueError(f"ray: no cluster at {self.address!r} ({err}); start one with `ray start --head`, "
                                 "or leave address out to start a Ray instance for this run") from None
            self._connected = True
        return ray

    def close(self) -> None:
        if self._connected:
            import ray

            ray.shutdown()  # stops the instance this run started; leaves a cluster it joined running
            self._connected = False

    def cloak(self, cloaker: Cloaker, chunks: list[list[Path]], folder: Path,
              public: dict[str, list[Path]]) -> Iterator[CloakedChunk]:
        if not chunks:
            return
        ray = self._ray()
        task = ray.remote(cloak_task).options(
            name="cloak", num_cpus=self.num_cpus_per_cloak, num_gpus=self.num_gpus_per_cloak,
            max_retries=self.max_retries)
        public_photos = ray.put(photo_bytes(sorted(photos_of(public))))
        refs = [task.remote(cloaker.clone(), cloaker.cache_id, chunk, public, photo_bytes(chunk), public_photos)
                for chunk in chunks]
        need = {"CPU": self.num_cpus_per_cloak, "GPU": self.num_gpus_per_cloak}
        names = [f"cloak of {chunk[0].parent.name}" for chunk in chunks]
        for index, (shipped, seconds) in self._finished(refs, names, need):
            with tempfile.TemporaryDirectory(dir=folder, prefix=".work-") as work:
                yield chunks[index], landed(shipped, Path(work)), seconds

    def cells(self, store: CellStore, work: ScenarioCells, jobs: list[CellJob], timings: Timings, cloaker: Cloaker,
              session: CloudSession) -> Iterator[FinishedCell]:
        missing = []
        for job in jobs:
            cell = store.load(job.key)
            if cell is None:
                missing.append(job)
            else:
                yield cell
        if not missing:
            return
        ray = self._ray()
        task = ray.remote(cell_task).options(name="cell", num_cpus=self.num_cpus_per_cell,
                                             num_gpus=self.num_gpus_per_cell, max_retries=self.max_retries)
        shared_work, photos = ray.put(work), ray.put(photo_bytes(work.photos()))
        refs = [task.remote(shared_work, photos, job) for job in missing]
        with tqdm(total=len(jobs), initial=len(jobs) - len(missing), desc="cells (ray)", unit="cell") as bar:
            for index, (result, skipped, seconds, embedded) in self._finished(
                    refs, [job.key for job in missing], {"CPU": self.num_cpus_per_cell, "GPU": self.num_gpus_per_cell}):
                for stage, spent in seconds.items():
                    timings.seconds[stage] = timings.seconds.get(stage, 0.0) + spent
                with EmbeddingCache() as cache:  # keyed by photo content and pipeline: valid on any machine
                    for pipeline, entries in embedded:
                        cache.put_many(pipeline, entries)
                bar.update()
                yield store.save(missing[index].key, result, skipped)

    def _finished(self, refs: list, names: list[str], need: dict[str, float]) -> Iterator[tuple[int, Any]]:
        """Each task's index and value as it finishes. A task that fails (after Ray's retries) ends the run once
        the others are done, and so do tasks no node has been able to run (`need`) for `lost_after` seconds;
        Ctrl-C cancels the rest."""
        ray = self._ray()
        index = {ref: i for i, ref in enumerate(refs)}
        pending, failed, stranded_since = list(refs), [], None
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=2.0)
                if not ready:
                    stranded_since = None if can_run(ray, need) else stranded_since or time.monotonic()
                    if stranded_since is not None and time.monotonic() - stranded_since > self.lost_after:
                        lost = RuntimeError(f"no node of the cluster could run it (it needs {need}) for "
                                            f"{self.lost_after:g} s")
                        failed += [(names[index[ref]], lost) for ref in pending]
                        for ref in pending:
                            ray.cancel(ref, force=True)
                        break
                    continue
                try:
                    value = ray.get(ready[0])
                except ray.exceptions.RayError as err:
                    failed.append((names[index[ready[0]]], err))
                    continue
                yield index[ready[0]], value
        except BaseException:  # Ctrl-C, or the caller stopped: what was not done is not left running
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        if failed:
            raise task_failure(failed, len(refs))


def can_run(ray: Any, need: dict[str, float]) -> bool:
    """Whether a live node of the cluster has the resources one task needs."""
    return any(node["Alive"] and all(node["Resources"].get(name, 0) >= amount
                                     for name, amount in need.items() if amount) for node in ray.nodes())


def check_reachable(address: str | None, seconds: float = 5.0) -> None:
    """Raise OSError when a `HOST:PORT` address does not answer (other forms are Ray's to resolve)."""
    host, _, port = (address or "").rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return
    with socket.create_connection((host, int(port)), timeout=seconds):
        pass


def task_failure(failed: list[tuple[str, Exception]], total: int) -> Exception:
    """The error that ends the run: a task's own exception (bad input fails the same everywhere), else what
    the cluster lost."""
    import ray

    name, first = failed[0]
    if isinstance(first, ray.exceptions.RayTaskError) and isinstance(first.cause, Exception):
        return first.cause
    missing = ", ".join(n for n, _ in failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
    return RuntimeError(f"ray: {len(failed)} of {total} tasks failed after retries ({type(first).__name__}: "
                        f"{first}); everything finished is kept and the same command computes only what is missing: "
                        f"{missing}")


def photo_bytes(paths: list[Path]) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in paths}


def staged(photos: dict[Path, bytes], root: Path) -> dict[Path, Path]:
    """Write shipped photos under `root`, each keeping its folder's and its own name; returns path → copy."""
    copies = {}
    for path, data in photos.items():
        folder = root / hashlib.sha256(str(path.parent).encode()).hexdigest()[:12] / path.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / path.name).write_bytes(data)
        copies[path] = folder / path.name
    return copies


def landed(shipped: dict[Path, ShippedCloak], folder: Path) -> dict[Path, Path | str]:
    """Cloaked photos that came back as bytes, written to `folder` for the store (a missing photo stays missing)."""
    results: dict[Path, Path | str] = {}
    for photo, item in shipped.items():
        if isinstance(item, tuple):
            results[photo] = folder / item[0]
            results[photo].write_bytes(item[1])
        elif item is not None:
            results[photo] = item
    return results


def in_temporary_folder(work: Callable[[Path], Any]) -> Any:
    with tempfile.TemporaryDirectory(prefix="cloak-audit-task-") as root:
        return work(Path(root))


def cloak_task(cloaker: Cloaker, cache_id: str, chunk: list[Path], public: dict[str, list[Path]],
               photos: dict[Path, bytes], public_photos: dict[Path, bytes]) -> tuple[dict[Path, ShippedCloak], float]:
    """On a worker: cloak one chunk with the driver's cloaker (an unloaded clone); the cloaked files come back as
    bytes."""
    reuse_freed_memory()  # as `audit` does: the worker is a process of its own

    def cloak(root: Path) -> tuple[dict[Path, ShippedCloak], float]:
        copies = staged({**photos, **public_photos}, root / "photos")
        if public:
            cloaker.use_public_identities({name: [copies[p] for p in paths] for name, paths in public.items()})
        if cloaker.cache_id != cache_id:  # the targeted cloaker's id holds its candidates: checked after them
            raise RuntimeError(f"this worker's cloak-audit makes {cloaker.spec!r} {cloaker.cache_id!r}, the driver's "
                               f"{cache_id!r}: install the same cloak-audit version on every node")
        out = root / "cloaked"
        out.mkdir()
        began = time.perf_counter()
        results = cloaker.cloak([copies[p] for p in chunk], out)
        seconds = (time.perf_counter() - began) / len(chunk)
        shipped: dict[Path, ShippedCloak] = {}
        for photo in chunk:
            result = results.get(copies[photo])
            shipped[photo] = (result.name, result.read_bytes()) if isinstance(result, Path) else result
        return shipped, seconds

    return in_temporary_folder(cloak)


def cell_task(work: ScenarioCells, photos: dict[Path, bytes],
              job: CellJob) -> tuple[Any, list[Skip], dict[str, float], list[tuple[str, dict[str, Cached]]]]:
    """On a worker: one cell over copies of its photos; skips name the driver's paths; the embeddings it
    used (computed, or read from this node's cache) go back with the result."""
    reuse_freed_memory()

    def compute(root: Path) -> tuple[Any, list[Skip], dict[str, float], list[tuple[str, dict[str, Cached]]]]:
        copies = staged(photos, root)
        with EmbeddingCache.recording() as embedded:
            result, skipped, seconds = compute_cell(work.moved(copies), job)
        original = {str(copy): str(path) for path, copy in copies.items()}
        skipped = [replace(skip, path=original.get(skip.path, skip.path)) for skip in skipped]
        return result, skipped, seconds, embedded

    return in_temporary_folder(compute)
