"""The plans of `audit run` and `audit verify`, each a table of its options: a field per option, carrying its
command-line flag and TOML key, its default as written, its help and the parser that turns what was written
into the plan's value. The defaults, the TOML keys, the command-line options (`audit.cli` builds them from the
table) and the parsing all come from that one entry, so a new option or sweep axis is one field.

Values are parsed once, when the plan is made (from the command line, a TOML file or Python alike): a plugin
spec becomes the plugin (a countermeasure sweep one per setting, a cloaker's budget sweep one cloaker per budget),
a sweep `0,0.15,0.3` a tuple, and from there on they travel as objects (a plugin given as an object is kept as
it is). A run's scenarios are its swept axes crossed (seed × leak ratio × labels × distractors).
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from audit.cloakers.matching import FAWKES_V03_MODES
from audit.options import spec_from_table
from audit.protocol import ProtocolOptions

if TYPE_CHECKING:
    from audit.cloakers import Cloaker
    from audit.executors import Executor
    from countermeasures import CloakDetector, Countermeasure
    from trackers import Tracker

ISOLATIONS = ("per-user", "cohort")


@dataclass(frozen=True)
class PlanOption:
    """One option of a command: `--key` on the command line (dashes for underscores), `key` or the plan's field
    name in a TOML file, its default as written (what `--help` shows), its help, and how a written value (a
    string, a TOML value, a tuple of a repeated option) becomes the plan's."""

    key: str
    default: object
    help: str
    parse: Callable[[object, PlanOption], object]
    repeatable: bool = False  # given once per value (--tracker a --tracker b); a list in TOML
    switch: bool = False  # a flag without a value
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None  # an integer option's least value
    folder: str | None = None  # a folder path: "new" (written to) or "existing" (read from)
    renamed: tuple[str, ...] = ()  # keys it had before: each is an error that names this one

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


def option(key: str, default: object, help: str, parse: Callable[[object, PlanOption], object], **details: Any
           ) -> Any:
    """A plan field that is an option, its default as written (the plan parses it)."""
    spec = PlanOption(key, default, help, parse, **details)
    return field(metadata={"option": spec}) if spec.required else field(default=default, metadata={"option": spec})


def parse_options(plan: object) -> None:
    """Each option of a (frozen) plan parsed in place: text becomes its value, a value already parsed stays."""
    for name, spec in plan_options(type(plan)).items():
        object.__setattr__(plan, name, spec.parse(getattr(plan, name), spec))


def plan_options(plan: type) -> dict[str, PlanOption]:
    """A plan's options by the field each sets, in the table's order (which `--help` keeps)."""
    return {f.name: f.metadata["option"] for f in fields(plan) if "option" in f.metadata}


def defaults(plan: type) -> dict[str, object]:
    """Every option's default as written, by its key."""
    return {spec.key: spec.default for spec in plan_options(plan).values() if not spec.required}


def merge_options(plan: type, given: Mapping[str, object], config: Path | None = None) -> dict[str, object]:
    """Defaults, overridden by the TOML file (an option's key or field name, `-` or `_`, optionally under `[run]`),
    overridden by what the command line gave (`given`, by key: only the options actually written)."""
    options = plan_options(plan)
    values = defaults(plan)
    if config is not None:
        try:
            table = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ValueError(f"{config}: {err}") from err
        names = {name: spec.key for name, spec in options.items()} | {spec.key: spec.key for spec in options.values()}
        old = {f"{old}{plural}": spec for spec in options.values() for old in spec.renamed for plural in ("", "s")}
        for key, value in table.get("run", table).items():
            name = key.replace("-", "_")
            if name in old:
                raise ValueError(f"{config}: {key!r} is now {old[name].key!r}")
            if name not in names:
                raise ValueError(f"{config}: unknown option {key!r}; known: {', '.join(sorted(set(names.values())))}")
            values[names[name]] = value
    values.update(given)
    return values


# --- parsers: a written value → the plan's value, with an error that names the option -------------------------


def text(value: object, spec: PlanOption) -> str | None:
    if value is None:
        return None
    if spec.choices and str(value) not in spec.choices:
        raise ValueError(f"{spec.flag} {value!r}; choose {', '.join(spec.choices)}")
    return str(value)


def texts(value: object, spec: PlanOption) -> tuple[str, ...]:
    return tuple(str(item) for item in listed(value))


def integer(value: object, spec: PlanOption) -> int | None:
    if value is None:
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"{spec.flag}: {value!r} is not an integer") from None
    if spec.minimum is not None and number < spec.minimum:
        raise ValueError(f"{spec.flag} must be at least {spec.minimum}, not {number}")
    return number


def number(value: object, spec: PlanOption) -> float | None:
    if value is None:
        return None
    try:
        return float(str(value))
    except ValueError:
        raise ValueError(f"{spec.flag}: {value!r} is not a number") from None


def switch(value: object, spec: PlanOption) -> bool:
    return bool(value)


def folder(value: object, spec: PlanOption) -> Path | None:
    return None if value is None else Path(str(value))


def sweep_of(kind: type, allow_all: bool = False) -> Callable[[object, PlanOption], tuple]:
    """A sweep's parser: `0,0.15,0.3` (or a TOML list, or one number) → a tuple; with allow_all, `all` → None."""
    def parse(value: object, spec: PlanOption) -> tuple:
        return sweep_values(value, spec.flag, kind, allow_all)

    return parse


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
        written = str(item).strip()
        if allow_all and (item is None or written == "all"):
            parsed.append(None)
            continue
        try:
            parsed.append(kind(written))
        except ValueError:
            alternative = " or all" if allow_all else ""
            raise ValueError(f"{option}: {written!r} is not a {kind.__name__}{alternative}") from None
    if len(set(parsed)) != len(parsed):
        raise ValueError(f"{option}: a value appears twice in {value!r}")
    return tuple(parsed)


def listed(value: object) -> list:
    """A repeatable option's values: a tuple from the command line, a list or one value from TOML."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def spec_text(item: object, spec: PlanOption) -> str:
    """A plugin spec as text: a string, or a TOML table `{name = "faiss", k = 3}` (tables nest)."""
    return spec_from_table(item, spec.key) if isinstance(item, dict) else str(item)


def plugins_of(kind: str) -> Callable[[object, PlanOption], tuple]:
    """A repeatable plugin option's parser: each spec built once into its plugin (a plugin stays as it is)."""
    def parse(value: object, spec: PlanOption) -> tuple:
        from audit.plugins import Plugin, build_plugin

        return tuple(item if isinstance(item, Plugin) else build_plugin(kind, spec_text(item, spec))
                     for item in listed(value))

    return parse


def plugin_of(kind: str) -> Callable[[object, PlanOption], object]:
    """A single plugin option's parser (None stays None)."""
    def parse(value: object, spec: PlanOption) -> object:
        built = plugins_of(kind)(value, spec)
        if len(built) > 1:
            raise ValueError(f"{spec.flag}: one {kind}, not {len(built)}")
        return built[0] if built else None

    return parse


def cloakers(value: object, spec: PlanOption) -> tuple[Cloaker, ...]:
    """The run's cloaker, one per budget where its spec sweeps the budget (a protection–cost curve)."""
    from audit.cloakers import Cloaker, build_cloakers

    items = listed(value)
    if items and all(isinstance(item, Cloaker) for item in items):
        return tuple(items)
    if len(items) != 1:
        raise ValueError(f"one cloaker per run, not {len(items)} ({', '.join(map(str, items))})")
    return tuple(build_cloakers(spec_text(items[0], spec)))


def countermeasures(value: object, spec: PlanOption) -> tuple[Countermeasure, ...]:
    """Every setting of every countermeasure given (`blur:kernel=3,5,7` is three)."""
    from countermeasures import Countermeasure, build_countermeasures

    return tuple(built for item in listed(value) for built in
                 ([item] if isinstance(item, Countermeasure) else build_countermeasures(spec_text(item, spec))))


# --- the plans ------------------------------------------------------------------------------------------------


class Plan:
    """What a command's plan does besides holding its options: parse them when it is made, say where its finished
    cells are kept, and be made from option values as written."""

    out: Path | None

    def __post_init__(self) -> None:
        parse_options(self)

    @property
    def cells_folder(self) -> Path | None:
        return None if self.out is None else self.out / "cells"

    @classmethod
    def from_values(cls, values: Mapping[str, object], command_line: str = "") -> Self:
        """The plan from option values by key, as written (`merge_options` gives them)."""
        return cls(**{name: values[spec.key] for name, spec in plan_options(cls).items() if spec.key in values},
                   command_line=command_line)


@dataclass(frozen=True, kw_only=True)
class RunPlan(Plan):
    """`audit run`: cloak the protected users' photos, play the tracker, and score the protection."""

    cloakers: tuple[Cloaker, ...] = option(
        "cloaker", "fawkes", "Cloaker name[:key=value,...], e.g. fawkes:mode=high, noise:budget=dssim:0.007, "
        "precomputed:dir=DIR; budget=lpips:0.02,0.04,0.12 sweeps the cloak's visibility.", cloakers)
    trackers: tuple[Tracker, ...] = option(
        "tracker", ("faiss",), "Tracker name[:key=value,...]; repeat for several, e.g. linear-probe:head=softmax.",
        plugins_of("tracker"), repeatable=True)
    dataset: str = option("dataset", "lfw", "'lfw' (found under $AUDIT_DATA or downloaded), an identity-folder path, "
                          "or a CSV manifest.", text)
    users: int = option("users", 5, "Protected users drawn (seeded) among identities with --min-photos photos.",
                        integer, minimum=1)
    named_users: tuple[str, ...] = option("user", (), "Protect this identity (repeatable); overrides --users.", texts,
                                          repeatable=True)
    min_photos: int = option("min_photos", 20, "Photos an identity needs to be a protected user or a label.", integer,
                             minimum=2)
    max_photos: int = option("max_photos", 40, "At most this many photos per identity (a seeded sample), so no "
                             "identity dominates.", integer, minimum=2)
    train_fraction: float = option("train_fraction", 0.7, "Share of each identity's photos the tracker trains on "
                                   "(the rest are its test photos).", number)
    label_counts: tuple[int | None, ...] = option(
        "labels", "all", "Identities the tracker knows (default: all eligible); a list sweeps, e.g. 2,4,8,all.",
        sweep_of(int, allow_all=True))
    distractors: str | None = option(
        "distractors", None, "Identities added to every search tracker's gallery, never protected: lfw-singletons "
        "(LFW's 4,069 people with one photo), an identity folder, a CSV manifest, or embeddings computed beforehand "
        "with audit embed (FILE.npz, joined as they are).", text)
    distractor_counts: tuple[int | None, ...] = option(
        "distractor_count", None, "How many distractor identities (default: all); a list sweeps the gallery size, "
        "e.g. 0,1000,4069.", lambda value, spec: () if value is None else sweep_values(value, spec.flag, int, True))
    leak_ratios: tuple[float, ...] = option(
        "leak_ratio", "0.0", "Share of each protected user's training photos left uncloaked; a list sweeps, e.g. "
        "0,0.15,0.3,0.5.", sweep_of(float))
    isolation: str = option("isolation", "per-user", "One tracker per protected user, or all protected users in one "
                            "tracker.", text, choices=ISOLATIONS)
    rank: int = option("rank", 5, "k for the rank-k figure of search trackers.", integer, minimum=1)
    countermeasures: tuple[Countermeasure, ...] = option(
        "countermeasure", (), "Tracker-side countermeasure, repeatable; a list of values sweeps. Transforms: "
        "blur:kernel=3,5,7, jpeg:quality=10,at=[train,test], noise:sigma=8, augment:copies=2; adaptive trackers: "
        "detect-and-drop:cloak_detector=2-means, robust-retraining:public_users=20,epochs=10. Each value is its own "
        "result beside 'none'.", countermeasures, repeatable=True)
    cloak_detectors: tuple[CloakDetector, ...] = option(
        "cloak_detector", (), "Cloak detector scored over protected vs clean classes, repeatable: 2-means (with "
        "leaked originals), target-closeness (without); on each tracker's own model unless extractor= names one.",
        plugins_of("cloak detector"), repeatable=True, renamed=("detector",))
    allow_cloud_upload: bool = option(
        "allow_cloud_upload", False, "Let cloud trackers (rekognition, azure, facepp) upload photos; without it the "
        "run only says what it would send where.", switch, switch=True)
    max_api_calls: int | None = option("max_api_calls", None, "Stop (and clean up) once cloud trackers have made "
                                       "this many API calls.", integer, minimum=1)
    seeds: tuple[int, ...] = option("seed", "0", "Seed of the users' draw and split; a list sweeps, e.g. 0,1,2 (per "
                                    "seed and pooled).", sweep_of(int))
    out: Path | None = option("out", "audit-report", "Folder for report.json, report.md and report.html, and the "
                              "finished cells the same command reuses.", folder, folder="new")
    executor: Executor = option(
        "executor", "local", "Where cloak jobs and cells run: local, or ray (a running Ray cluster, else a Ray "
        "instance started for the run), e.g. ray:address=auto,num_gpus_per_cloak=1,num_cpus_per_cell=2.",
        plugin_of("executor"))
    command_line: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.distractors is None and set(self.distractor_counts) - {0}:
            raise ValueError("--distractor-count needs --distractors (where the distractor identities come from)")
        self.scenarios()  # each protocol's own checks, before any work

    def axes(self) -> dict[str, tuple]:
        """The protocol's swept fields, each with its values (a field of ProtocolOptions → the plan's sweep)."""
        return {"seed": self.seeds, "leak_ratio": self.leak_ratios, "labels": self.label_counts,
                "distractors": self.distractor_counts or ((None,) if self.distractors else (0,))}

    def scenarios(self) -> list[ProtocolOptions]:
        """One protocol per combination of the axes (seed × leak ratio × labels × distractors), each giving its own
        results; every other field of ProtocolOptions the plan has an option for is taken as it is."""
        axes, options = self.axes(), plan_options(type(self))
        base = ProtocolOptions(**{f.name: getattr(self, f.name) for f in fields(ProtocolOptions)
                                  if f.name not in axes and f.name in options})
        return [replace(base, **dict(zip(axes, values))) for values in itertools.product(*axes.values())]

    @property
    def protocol(self) -> ProtocolOptions:
        """The first scenario's protocol (what the report heads with)."""
        return self.scenarios()[0]

    @property
    def budgets(self) -> tuple[object, ...] | None:
        """The budget axis of a budget sweep (one cloaker per budget); None when the cloaker sweeps none."""
        return tuple(cloaker.budget for cloaker in self.cloakers) if len(self.cloakers) > 1 else None


@dataclass(frozen=True, kw_only=True)
class VerifyPlan(Plan):
    """`audit verify`: a person's photos among a crowd, k folds, a verdict per tracker."""

    originals: Path = option("original", None, "Your original photos (at least 5; 10 or more for a tighter answer).",
                             folder, required=True, folder="existing")
    cloaked: Path = option("cloaked", None, "The cloaked copies you posted, named like the originals (x.jpg ↔ x.png, "
                           "x_cloaked.png, x_high_cloaked.png, x_attacked.png).", folder, required=True,
                           folder="existing")
    mode: str | None = option("mode", None, "Take the copies of this Fawkes v0.3 mode (x_MODE_cloaked.png) where "
                              "--cloaked holds several.", text, choices=FAWKES_V03_MODES)
    trackers: tuple[Tracker, ...] = option(
        "tracker", (), "Tracker name[:key=value,...], repeatable. Default: faiss and linear-probe on every face model "
        "available (dlib-resnet, mobilefacenet, faceres).", plugins_of("tracker"), repeatable=True)
    crowd: str = option("crowd", "lfw", "The people you hide among: 'lfw', an identity-folder path, or a CSV "
                        "manifest.", text)
    crowd_min_photos: int = option("crowd_min_photos", 20, "Photos a crowd member needs to be one of the people the "
                                   "tracker knows.", integer, minimum=2)
    crowd_max_photos: int | None = option("crowd_max_photos", 40, "At most this many photos per crowd member (a "
                                          "seeded sample).", integer, minimum=2)
    folds: int = option("folds", 5, "Rounds: each posts the other rounds' cloaked photos and queries this round's "
                        "originals.", integer, minimum=2)
    countermeasures: tuple[Countermeasure, ...] = option(
        "countermeasure", (), "Also try a tracker that fights back, e.g. robust-retraining (slow; needs --cloaker), "
        "blur:kernel=5.", countermeasures, repeatable=True)
    cloaker: Cloaker | None = option("cloaker", None, "The cloaker you used (robust-retraining imitates it), e.g. "
                                     "fawkes:mode=high.", plugin_of("cloaker"))
    seed: int = option("seed", 0, "Seed of the folds and the crowd's split.", integer)
    out: Path | None = option("out", "audit-verify", "Folder for verify.json, verify.md and verify.html, and the "
                              "finished cells the same command reuses.", folder, folder="new")
    command_line: str = ""
