"""Executors: where a run's cloak jobs and cells are computed (`--executor local|ray:...`).

The driver always keeps the plan, the caches and the cell checkpoints; an executor only computes.
`ray` is imported when asked for (`pip install 'cloak-audit[ray]'`).
"""

from __future__ import annotations

from audit.executors.base import Executor, LocalExecutor
from audit.executors.ray_executor import RayExecutor
from audit.options import parse_spec
from audit.plugins import build_registered, registered, registry

BUILT_IN: dict[str, type[Executor]] = registry(LocalExecutor, RayExecutor)


def build_executor(spec_text: str) -> Executor:
    """`local`, `ray`, `ray:address=auto`, `ray:address=10.0.0.5:6379,num_gpus_per_cloak=1`."""
    return build_registered(registered("executor"), parse_spec(spec_text), "executor")


__all__ = ["BUILT_IN", "Executor", "LocalExecutor", "RayExecutor", "build_executor"]
