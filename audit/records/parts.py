"""What every document shares: the record decorator, the schema version, and the parts that more than one document
holds (a rate with its interval, a skip, perceptual cost, the cloaker, example photos, cell counts, the environment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2

record = dataclass(frozen=True, kw_only=True)


def json_name(name: str) -> Any:
    """A field written under another key (one that is a Python keyword, such as `class`)."""
    return field(metadata={"json": name})


@record
class Rate:
    """A proportion with its 95% interval, over n_photos photos of n_users users (None: one pool of photos)."""

    rate: float
    ci95: tuple[float, float]
    n_photos: int
    n_users: int | None = None


@record
class Skip:
    """A photo left out, where and why."""

    path: str
    reason: str
    stage: str


@record
class Perturbation:
    """Perceptual cost over the distinct photos cloaked, and the cloaker's seconds per photo."""

    n_photos: int
    dssim_mean: float
    dssim_max: float
    psnr_mean: float | None
    l2_mean: float
    linf_max: float
    seconds_per_photo: float | None = None  # verify does not time the person's own cloaker
    lpips_mean: float | None = None  # LPIPS (AlexNet, v0.1) on the whole photo; absent in older documents
    lpips_max: float | None = None


@record
class CloakerRecord:
    """The cloaker as the run built it: its options and the models it optimised against."""

    name: str
    spec: str
    implementation: str
    params: dict[str, Any]
    cloak_extractors: tuple[str, ...] = ()
    per_user: dict[str, dict[str, Any]] | None = None
    notes: dict[str, Any] | None = None


@record
class ExamplePair:
    original: str
    cloaked: str
    user: str | None = None


@record
class CellCounts:
    total: int
    reused: int
    computed: int


@record
class Environment:
    python: str
    packages: dict[str, str | None]
    seed: int
    command_line: str
