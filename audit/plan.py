"""The run plan: every `audit run` (and `audit verify`) default in one place, merged from defaults,
`--config` and the command line once, and the matrix of cells it enumerates.

A cell is one (scenario, countermeasure, tracker) result; a scenario is one (seed, leak ratio,
label count) of the sweep axes. Its key digests everything that determines the result (the
photos it reads, the protocol, the plugins' cache identities with their revisions, and the
code that computes it), so a finished cell can be reused after any crash and is never reused
once any of those changed.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

from audit.datasets.distractors import NO_DISTRACTORS, Distractors
from audit.options import spec_from_table
from audit.protocol import Protocol, ProtocolOptions

ISOLATIONS = ("per-user", "cohort")
PLUGIN_OPTIONS = ("cloaker", "tracker", "countermeasure", "cloak_detector")
# the packages whose code computes a cell; reports/ only renders it, so editing a renderer keeps the cells
COMPUTING_PACKAGES = ("audit", "trackers", "countermeasures", "cloud_clients")


@dataclass(frozen=True)
class RunPlan:
    cloaker: str = "fawkes"
    trackers: tuple[str, ...] = ("faiss",)
    dataset: str = "lfw"
    protocol: ProtocolOptions = field(default_factory=ProtocolOptions)
    isolation: str = "per-user"
    rank: int = 5
    countermeasures: tuple[str, ...] = ()
    cloak_detectors: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()  # a sweep; empty: protocol.seed alone
    leak_ratios: tuple[float, ...] = ()  # a sweep (Fawkes Fig. 10); empty: protocol.leak_ratio alone
    label_counts: tuple[int | None, ...] = ()  # a sweep (Fig. 6); None = every eligible identity
    distractors: str | None = None  # identities added to search galleries: lfw-singletons, a folder, a CSV, an .npz
    distractor_counts: tuple[int | None, ...] = ()  # a sweep of gallery sizes; None = all of `distractors`
    allow_cloud_upload: bool = False  # without it, a run with a cloud tracker stops before any call
    max_api_calls: int | None = None
    out: Path | None = None  # the report folder; finished cells are kept under out/cells (None: not kept)
    executor: str = "local"  # where cloak jobs and cells run: local, or ray[:address=...,num_cpus_per_cell=...]
    command_line: str = ""

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"--isolation {self.isolation!r}; choose {', '.join(ISOLATIONS)}")
        if self.rank < 1:
            raise ValueError("--rank must be at least 1")
        if self.distractors is None and set(self.distractor_counts) - {0}:
            raise ValueError("--distractor-count needs --distractors (where the distractor identities come from)")

    def scenarios(self) -> list[ProtocolOptions]:
        """One protocol per swept (seed, leak ratio, label count, distractor count); each gives its own results."""
        seeds = self.seeds or (self.protocol.seed,)
        leaks = self.leak_ratios or (self.protocol.leak_ratio,)
        counts = self.label_counts or (self.protocol.labels,)
        distractors = self.distractor_counts or (self.protocol.distractors,)
        return [replace(self.protocol, seed=seed, leak_ratio=leak, labels=count, distractors=extra)
                for seed in seeds for leak in leaks for count in counts for extra in distractors]

    @property
    def cells_folder(self) -> Path | None:
        return None if self.out is None else self.out / "cells"

    @classmethod
    def from_values(cls, values: Mapping[str, object], command_line: str = "") -> RunPlan:
        """The plan from option values named as on the command line (`merge_options` gives them)."""
        seeds = sweep_values(values["seed"], "--seed", int)
        leaks = sweep_values(values["leak_ratio"], "--leak-ratio", float)
        counts = sweep_values(values["labels"], "--labels", int, allow_all=True)
        source = values["distractors"]
        extra = sweep_values(values["distractor_count"] or ("all" if source else "0"), "--distractor-count", int,
                             allow_all=True)
        protocol = ProtocolOptions(users=values["users"], min_photos=values["min_photos"],
                                   max_photos=values["max_photos"], named_users=tuple(values["user"]),
                                   leak_ratio=leaks[0], labels=counts[0], seed=seeds[0], distractors=extra[0])
        return cls(cloaker=values["cloaker"], trackers=tuple(values["tracker"]), dataset=str(values["dataset"]),
                   protocol=protocol, isolation=values["isolation"], rank=values["rank"],
                   countermeasures=tuple(values["countermeasure"]), cloak_detectors=tuple(values["cloak_detector"]),
                   seeds=seeds, leak_ratios=leaks, label_counts=counts,
                   distractors=str(source) if source else None, distractor_counts=extra,
                   allow_cloud_upload=bool(values["allow_cloud_upload"]), max_api_calls=values["max_api_calls"],
                   out=Path(values["out"]), executor=str(values["executor"]), command_line=command_line)


@dataclass(frozen=True)
class VerifyOptions:
    """`audit verify`'s plan: a person's photos among a crowd, k folds; every verify default is here."""

    originals: Path
    cloaked: Path
    trackers: tuple[str, ...] = ()  # none named: DEFAULT_TRACKERS on every model available
    crowd: str = "lfw"
    folds: int = 5
    countermeasures: tuple[str, ...] = ()  # e.g. robust-retraining, which imitates `cloaker`
    cloaker: str | None = None  # the cloaker the person used; robust retraining needs it
    mode: str | None = None  # the Fawkes v0.3 mode whose copies to take, where --cloaked holds several
    crowd_min_photos: int = 20
    crowd_max_photos: int | None = 40
    seed: int = 0
    out: Path | None = None  # the report folder; finished cells are kept under out/cells (None: not kept)
    command_line: str = ""

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError("--folds must be at least 2 (one part posted, one queried)")

    @property
    def cells_folder(self) -> Path | None:
        return None if self.out is None else self.out / "cells"


def verify_defaults() -> dict[str, object]:
    """Every `audit verify` option's default, read from VerifyOptions' own fields (the command line writes its
    report to a folder; a caller of `verify_person` may keep nothing)."""
    return {**{f.name: f.default for f in fields(VerifyOptions) if f.default is not MISSING}, "out": "audit-verify"}


def defaults() -> dict[str, object]:
    """Every `audit run` option's default, named as on the command line, read from the plan's own fields."""
    plan, protocol = RunPlan(), ProtocolOptions()
    return {"cloaker": plan.cloaker, "tracker": plan.trackers, "dataset": plan.dataset, "users": protocol.users,
            "min_photos": protocol.min_photos, "max_photos": protocol.max_photos, "user": protocol.named_users,
            "seed": protocol.seed, "leak_ratio": protocol.leak_ratio, "labels": protocol.labels,
            "isolation": plan.isolation, "rank": plan.rank, "countermeasure": plan.countermeasures,
            "cloak_detector": plan.cloak_detectors, "out": "audit-report",
            "allow_cloud_upload": plan.allow_cloud_upload, "max_api_calls": plan.max_api_calls,
            "executor": plan.executor, "distractors": plan.distractors, "distractor_count": None}


def merge_options(given: Mapping[str, object], config: Path | None) -> dict[str, object]:
    """Defaults, overridden by the TOML file (same names, `-` or `_`, optionally under `[run]`),
    overridden by what the command line gave (`given`: only the options actually written)."""
    values = defaults()
    if config is not None:
        try:
            table = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ValueError(f"{config}: {err}") from err
        for key, value in table.get("run", table).items():
            name = key.replace("-", "_")
            if name in ("detector", "detectors"):
                raise ValueError(f"{config}: {key!r} is now 'cloak_detector' (a cloak detector; the trackers' "
                                 "face detector is their face_detector option)")
            if name in ("trackers", "countermeasures", "cloak_detectors", "seeds"):
                name = name[:-1]
            if name not in values:
                raise ValueError(f"{config}: unknown option {key!r}; known: {', '.join(values)}")
            values[name] = value
    values.update(given)
    where = f"{config}: " if config is not None else ""
    for name in PLUGIN_OPTIONS:
        values[name] = plugin_specs(values[name], f"{where}{name}")
    if len(values["cloaker"]) != 1:
        raise ValueError(f"{where}one cloaker per run, not {len(values['cloaker'])}")
    values["cloaker"] = values["cloaker"][0]
    return values


def plugin_specs(value: object, where: str) -> tuple[str, ...]:
    """A config value for plugins as spec strings: a string, a table `{name = "faiss", k = 3}` (tables
    nest: `extractor = {name = "onnx", path = "m.onnx"}`), or a list of either."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return tuple(spec_from_table(item, where) if isinstance(item, dict) else str(item) for item in items)


def sweep_values(value: object, option: str, kind: type, allow_all: bool = False) -> tuple:
    """`0,0.15,0.3` (or a TOML list, or one number) → a tuple; with allow_all, `all` (or unset) → None."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif value is None:
        items = [None]
    else:
        items = str(value).split(",")
    parsed = []
    for item in items:
        text = str(item).strip()
        if allow_all and (item is None or text == "all"):
            parsed.append(None)
            continue
        try:
            parsed.append(kind(text))
        except ValueError:
            raise ValueError(f"{option}: {text!r} is not a {kind.__name__}{' or all' if allow_all else ''}") from None
    if len(set(parsed)) != len(parsed):
        raise ValueError(f"{option}: a value appears twice in {value!r}")
    return tuple(parsed)


def cell_key(photos: str, scenario: ProtocolOptions, plan: RunPlan, cloaker_id: str, countermeasure_id: str,
             tracker_id: str) -> str:
    """A readable, filesystem-safe name that changes whenever anything that determines the cell does;
    `photos` is the scenario's `protocol_digest`, computed once for all its cells."""
    material = {"photos": photos, "scenario": asdict(scenario), "dataset": plan.dataset, "isolation": plan.isolation,
                "rank": plan.rank, "cloaker": cloaker_id}
    where = f"seed{scenario.seed}-leak{scenario.leak_ratio}-labels{scenario.labels or 'all'}"
    return keyed(where, material, countermeasure_id, tracker_id)


def verify_cell_key(photos: str, cloaked: str, options: VerifyOptions, fold: int, countermeasure_id: str,
                    tracker_id: str) -> str:
    """`audit verify`'s cell: one fold × countermeasure × tracker. `photos` is the fold's `protocol_digest`
    and `cloaked` the digest of the person's cloaked copies' content (they are the user's files, not ours)."""
    material = {"photos": photos, "cloaked": cloaked, "crowd": options.crowd, "folds": options.folds,
                "seed": options.seed, "cloaker": options.cloaker}
    return keyed(f"verify-fold{fold}", material, countermeasure_id, tracker_id)


def keyed(where: str, material: dict, countermeasure_id: str, tracker_id: str) -> str:
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
