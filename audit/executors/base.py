"""What an executor does: run a scenario's cloak jobs and cells, here or elsewhere, while the driver keeps
the plan, the caches and the checkpoints."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from audit.cells import CellJob, ScenarioCells, Timings, countermeasure_cells
from audit.checkpoints import CellStore, FinishedCell
from audit.cloakers.base import Cloaker
from audit.cloakers.store import CloakedChunk, cloak_here
from audit.plugins import Plugin
from cloud_clients import CloudSession


class Executor(Plugin, ABC):
    """Where cloak jobs and cells run. Constructor arguments are its options (`ray:address=auto`)."""

    name = "executor"

    @abstractmethod
    def cloak(self, cloaker: Cloaker, chunks: list[list[Path]], folder: Path,
              public: dict[str, list[Path]]) -> Iterator[CloakedChunk]:
        """Cloak each chunk of photos (one user's, or part of them) and hand each back as it finishes;
        `folder` is where cloaked files may wait until the caller has stored them, `public` the identities a
        targeted cloaker picks from."""

    @abstractmethod
    def cells(self, store: CellStore, work: ScenarioCells, jobs: list[CellJob], timings: Timings, cloaker: Cloaker,
              session: CloudSession) -> Iterator[FinishedCell]:
        """Every job's cell: read back from `store` when a run finished it before, else computed and saved to
        `store` the moment it finishes, and handed over as it finishes (in any order)."""

    def close(self) -> None:
        """Release what the executor started (a local Ray instance)."""


class LocalExecutor(Executor):
    """Everything in this process, one job after another (the default)."""

    name = "local"

    def cloak(self, cloaker: Cloaker, chunks: list[list[Path]], folder: Path,
              public: dict[str, list[Path]]) -> Iterator[CloakedChunk]:
        yield from cloak_here(cloaker, chunks, folder, public)

    def cells(self, store: CellStore, work: ScenarioCells, jobs: list[CellJob], timings: Timings, cloaker: Cloaker,
              session: CloudSession) -> Iterator[FinishedCell]:
        # a countermeasure is prepared once, for all of its trackers, and only when one of its cells is missing
        for countermeasure, group in itertools.groupby(jobs, key=lambda job: job.countermeasure):
            group = list(group)
            yield from countermeasure_cells(
                store, [job.key for job in group], [job.tracker for job in group], timings,
                lambda skips: work.prepare(countermeasure, cloaker, skips),
                lambda tracker, prepared, skips: work.evaluate(tracker, prepared, skips, timings, session))
