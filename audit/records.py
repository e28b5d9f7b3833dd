"""The shapes of what cloak-audit writes, as frozen dataclasses: the run, verify and compare
documents and every part of them (a cell's result, a rate with its interval, a per-user row,
perceptual cost, detection, a skip).

Producers build these records and renderers read their attributes. `to_json` and `from_json`
are the only places where a record becomes a dict or comes back from one, and the JSON Schema
shipped for each document (`audit/schemas/`) is derived from the same types, so the types, the
files and the schemas cannot drift apart. A version-1 document (written before the records were
typed) is read through `read_document`, so `audit compare` and `audit history` keep working on
old runs.

Serialization rule: a field whose default is None is left out of the JSON when it is None (an
optional key); any other field is always written, `null` included where its type allows it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

SCHEMA_VERSION = 2

record = dataclass(frozen=True, kw_only=True)
T = TypeVar("T")


class RecordError(ValueError):
    """A document that does not have the shape of its record (names the offending key)."""


def json_name(name: str) -> Any:
    """A field written under another key (one that is a Python keyword, such as `class`)."""
    return field(metadata={"json": name})


# --- parts -----------------------------------------------------------------------------------------


@record
class Rate:
    """A proportion with its 95% interval, over n_photos photos of n_users users (None: one pool of photos)."""

    rate: float
    ci95: tuple[float, float]
    n_photos: int
    n_users: int | None = None


@record
class UserRow:
    """One protected user's test photos in one cell: how many the tracker missed, with and without cloaks."""

    user: str
    n_test: int
    hidden: int
    control_hidden: int
    protection: float | None
    control: float | None
    # `identity/file`, so that `audit compare` can pair runs photo by photo (early version-1 reports lack them)
    test_photos: tuple[str, ...] | None = None
    hidden_photos: tuple[str, ...] | None = None


@record
class RankK:
    k: int
    protection: Rate
    control: Rate


@record
class DroppedPhotos:
    """What an adaptive tracker left out of one training set."""

    photos: int
    cloaked: int


@record
class CellResult:
    """One cell of a run: a tracker (after a countermeasure) scored in one scenario."""

    tracker: str
    tracker_params: dict[str, Any]
    tracker_extractor: str | None = None  # version-1 reports from before models were named lack it
    cloak_extractors: tuple[str, ...] = ()
    transfer: bool | None = None
    countermeasure: str
    seed: int | None = None  # version-1 reports from before seed sweeps lack it
    leak_ratio: float
    n_labels: int
    n_distractors: int = 0  # identities in the gallery besides the labels (--distractors)
    isolation: str
    protection: Rate
    control: Rate
    normal_accuracy: Rate
    per_user: tuple[UserRow, ...]
    countermeasure_notes: dict[str, Any] | None = None
    dropped: dict[str, DroppedPhotos] | None = None  # per training set (the control, then each user's)
    rank_k: RankK | None = None
    budget: str | None = None  # the cloak's visibility budget (`lpips:0.04`), where the cloaker had one

    @property
    def name(self) -> str:
        """`tracker` or `tracker + countermeasure`."""
        return self.tracker + ("" if self.countermeasure == "none" else f" + {self.countermeasure}")

    @property
    def cell(self) -> tuple:
        """Which cell this is, its seed aside (tracker, countermeasure, leak ratio, labels, distractors, and the
        budget where there is one): a seed sweep pools the results of one cell, and two runs are compared cell by
        cell."""
        cell = (self.tracker, self.countermeasure, self.leak_ratio, self.n_labels, self.n_distractors)
        return cell if self.budget is None else (*cell, self.budget)


@record
class OverSeeds:
    """The mean of per-seed rates with Student's t interval over the seeds."""

    mean: float
    ci95: tuple[float, float]
    n_seeds: int


@record
class PooledRate:
    """Every seed's test photos pooled, users clustered by name, beside the spread over seeds."""

    rate: float
    ci95: tuple[float, float]
    n_photos: int
    n_users: int
    over_seeds: OverSeeds


@record
class PooledResult:
    """One cell pooled over a seed sweep."""

    tracker: str
    tracker_extractor: str | None = None
    cloak_extractors: tuple[str, ...] = ()
    transfer: bool | None = None
    countermeasure: str
    leak_ratio: float
    n_labels: int
    n_distractors: int = 0
    seeds: tuple[int, ...]
    protection: PooledRate
    control: PooledRate
    normal_accuracy: OverSeeds
    budget: str | None = None


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
class Confusion:
    true_positives: int
    false_negatives: int
    false_positives: int
    true_negatives: int


@record
class ClassScore:
    class_: str = json_name("class")
    score: float
    protected: bool
    flagged: bool


@record
class Detection:
    """A cloak detector scored over protected (positive) vs clean classes, ART-style."""

    cloak_detector: str
    extractor: str
    face_detector: str | None = None
    leak_ratio: float
    n_labels: int
    n_protected: int
    n_clean: int
    threshold: float | None
    auc: float | None
    tpr_at_5fpr: float | None
    confusion: Confusion
    per_class: tuple[ClassScore, ...]
    budget: str | None = None


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
class BudgetCost:
    """What one budget of a sweep cost: its cloaker, the measured cost of its copies, and an example copy."""

    budget: str
    cloaker: str
    perturbation: Perturbation
    example: ExamplePair | None = None


@record
class CurvePoint:
    """One budget on a protection–cost curve: what its copies cost (means over every copy cloaked at that
    budget) and what they bought."""

    budget: str
    lpips: float | None
    dssim: float
    protection: Rate
    control: Rate
    normal_accuracy: Rate


@record
class CostCurve:
    """Protection against measured visibility: one tracker and countermeasure in one scenario, a point per budget,
    in increasing cost."""

    tracker: str
    tracker_extractor: str | None = None
    transfer: bool | None = None
    countermeasure: str
    seed: int | None = None
    leak_ratio: float
    n_labels: int
    n_distractors: int = 0
    points: tuple[CurvePoint, ...]

    @property
    def cell(self) -> tuple:
        return self.tracker, self.countermeasure, self.seed, self.leak_ratio, self.n_labels, self.n_distractors


@record
class Scenario:
    """One scenario of a sweep: its seed, leak ratio, label count and distractor count."""

    seed: int | None = None
    leak_ratio: float
    n_labels: int
    n_distractors: int = 0
    n_leaked_photos: int


@record
class ProtocolRecord:
    """The first scenario's protocol; `sweep` lists every scenario of a swept run."""

    dataset: str
    seed: int
    users: tuple[str, ...]
    min_photos: int
    max_photos: int | None
    train_fraction: float
    leak_ratio: float
    isolation: str
    n_labels: int
    labels: tuple[str, ...]
    n_train_photos: int
    n_test_photos: int
    n_leaked_photos: int
    sweep: tuple[Scenario, ...] | None = None
    distractors: str | None = None  # where the distractor identities came from (--distractors)


@record
class CellCounts:
    total: int
    reused: int
    computed: int


@record
class CloudUse:
    """What the cloud trackers spent and created (never a credential)."""

    run_id: str
    api_calls: dict[str, int]
    max_api_calls: int | None
    created: tuple[str, ...]
    deleted: tuple[str, ...]
    leftovers: tuple[str, ...]


@record
class Environment:
    python: str
    packages: dict[str, str | None]
    seed: int
    command_line: str


# --- documents -------------------------------------------------------------------------------------


@record
class RunReport:
    """`report.json`: everything `audit run` found."""

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["run"] = "run"
    cloaker: CloakerRecord
    perturbation: Perturbation
    examples: tuple[ExamplePair, ...]
    protocol: ProtocolRecord
    results: tuple[CellResult, ...]
    pooled: tuple[PooledResult, ...] | None = None  # a seed sweep
    cells: CellCounts | None = None  # version-1 runs kept no cells
    detection: tuple[Detection, ...]
    skipped: tuple[Skip, ...]
    timings: dict[str, float]
    environment: Environment
    cloud: CloudUse | None = None
    stopped: str | None = None  # why the run stopped early: the results are those finished before
    budgets: tuple[BudgetCost, ...] | None = None  # a budget sweep: each budget's cost (`perturbation` sums all)
    curves: tuple[CostCurve, ...] | None = None  # a budget sweep: protection against measured cost

    @property
    def trackers(self) -> list[str]:
        return list(dict.fromkeys(r.tracker for r in self.results))


@record
class VerifyResult:
    """One tracker's answer for the person, summed over the folds."""

    tracker: str
    tracker_params: dict[str, Any]
    countermeasure: str
    tracker_extractor: str | None = None
    cloak_extractors: tuple[str, ...] = ()
    transfer: bool | None = None
    tries: int
    found: int
    control_found: int
    protection: Rate
    control: Rate
    normal_accuracy: Rate
    hidden_photos: tuple[str, ...]
    verdict: str

    @property
    def name(self) -> str:
        return self.tracker + ("" if self.countermeasure == "none" else f" + {self.countermeasure}")


@record
class MissingModel:
    model: str
    reason: str


@record
class PersonRecord:
    originals: str
    cloaked: str
    n_photos: int
    n_usable: int
    identical_copies: int
    folds: int
    naming: dict[str, int] | None = None  # how many copies each naming rule matched (fawkes-v0.3, same-name, ...)


@record
class CrowdRecord:
    dataset: str
    n_identities: int
    n_train_photos: int
    n_test_photos: int
    excluded: tuple[str, ...]


@record
class VerifyReport:
    """`verify.json`: does this cloak protect this person?"""

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["verify"] = "verify"
    verdict: str
    verdict_by_model: dict[str, str]
    models_missing: tuple[MissingModel, ...]
    person: PersonRecord
    crowd: CrowdRecord
    cloaker: str | None
    perturbation: Perturbation
    examples: tuple[ExamplePair, ...]
    results: tuple[VerifyResult, ...]
    caveats: tuple[str, ...]
    skipped: tuple[Skip, ...]
    timings: dict[str, float]
    environment: Environment
    cells: CellCounts | None = None  # version-1 verifications kept no cells

    @property
    def trackers(self) -> list[str]:
        return list(dict.fromkeys(r.tracker for r in self.results))


@record
class McNemar:
    hidden_only_in_a: int
    hidden_only_in_b: int
    p: float


@record
class ComparedCell:
    """B's protection minus A's in one cell present in both runs."""

    tracker: str
    countermeasure: str
    seed: int | None
    leak_ratio: float | None
    n_labels: int | None
    n_distractors: int = 0
    a: float
    b: float
    a_control: float
    b_control: float
    change: float
    ci95: tuple[float, float]
    method: str
    mcnemar: McNemar | None = None  # when the runs pair photo by photo
    verdict: str
    budget: str | None = None


@record
class EqualCostPoint:
    """A's and B's protection at one measured cost, each read off its curve, and B − A."""

    cost: float
    a: float
    a_ci95: tuple[float, float]
    b: float
    b_ci95: tuple[float, float]
    change: float
    ci95: tuple[float, float]
    verdict: str


@record
class EqualCostComparison:
    """Two cloaks compared at the same visibility along their protection–cost curves, for one tracker and
    countermeasure in one scenario."""

    tracker: str
    countermeasure: str
    seed: int | None
    leak_ratio: float
    n_labels: int
    n_distractors: int = 0
    metric: str  # the cost both curves are read at: lpips (dssim where a run could not measure LPIPS)
    range_a: tuple[float, float]
    range_b: tuple[float, float]
    points: tuple[EqualCostPoint, ...]  # empty when the two ranges do not overlap
    method: str


@record
class RunSummary:
    cloaker: str
    cloaker_params: dict[str, Any]
    command: str


@record
class CompareReport:
    """`compare.json`: the change in protection from run A to run B."""

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["compare"] = "compare"
    paired: bool
    cells: tuple[ComparedCell, ...]
    a: RunSummary
    b: RunSummary
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]
    command: str = ""
    at_equal_cost: tuple[EqualCostComparison, ...] | None = None  # both runs swept a budget
    worst_case: ComparedCell | None = None  # two scorecards: B's worst-case protection against A's

    @property
    def trackers(self) -> list[str]:
        return sorted({c.tracker for c in self.cells})


@record
class ScoreCell:
    """One cell of a battery: a tracker, after a countermeasure, at a leak ratio."""

    tracker: str
    tracker_extractor: str | None
    transfer: bool | None
    countermeasure: str
    leak_ratio: float
    protection: Rate
    control: Rate
    normal_accuracy: Rate


@record
class ScoreCard:
    """`scorecard.json`: one cloak against one version of a battery (`audit bench`)."""

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["scorecard"] = "scorecard"
    battery: str
    name: str
    cloaker: CloakerRecord
    cost: Perturbation
    worst_case: ScoreCell | None  # the headline: the lowest protection over every transfer cell
    worst_white_box: ScoreCell | None  # shown apart, never the headline
    by_model: dict[str, float]  # the lowest transfer protection per tracker model
    by_countermeasure: dict[str, float]  # the lowest transfer protection per countermeasure
    detectability: float | None  # ROC AUC of the 2-means cloak detector (protected vs clean classes), where run
    normal_accuracy: float  # the lowest over every cell
    control: float  # the highest protection without cloaks over every cell
    models_missing: tuple[str, ...]
    cells: tuple[ScoreCell, ...]
    runs: tuple[str, ...]  # each part's run folder
    environment: Environment


Document = RunReport | VerifyReport | CompareReport | ScoreCard
DOCUMENTS: dict[str, type] = {"run": RunReport, "verify": VerifyReport, "compare": CompareReport,
                              "scorecard": ScoreCard}
# as each command writes it
FILE_NAMES = {"run": "report.json", "verify": "verify.json", "compare": "compare.json", "scorecard": "scorecard.json"}


# --- one serializer, both ways ---------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A record (or any value holding records) as JSON types: dicts, lists, strings, numbers, None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and f.default is None:
                continue
            out[f.metadata.get("json", f.name)] = to_json(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(document: Any) -> str:
    """The file text of a record: indented JSON (NaN where a rate has no photos)."""
    return json.dumps(to_json(document), indent=2, default=str) + "\n"


def from_json(kind: type[T], data: Any) -> T:
    """The record of type `kind` that `data` (parsed JSON) holds; RecordError names what is wrong.
    Unknown keys are ignored: a newer writer's additions do not stop an older reader."""
    return _parse(kind, data, kind.__name__)


def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _parse(kind: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, found {type(value).__name__}")
        hints, given = _hints(kind), {}
        for f in dataclasses.fields(kind):
            key = f.metadata.get("json", f.name)
            if key in value:
                given[f.name] = _parse(hints[f.name], value[key], f"{where}.{key}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where}: no {key!r}")
        return kind(**given)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _parse(inner, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, found {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise RecordError(f"{where}: expected {len(args)} values, found {len(value)}")
        return tuple(_parse(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, found {type(value).__name__}")
        return {k: _parse(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is Literal and value not in args:
        raise RecordError(f"{where}: {value!r}, expected {' or '.join(map(repr, args))}")
    return value


# --- reading any version ---------------------------------------------------------------------------


def read_document(kind: str, data: dict) -> Document:
    """A run, verify or compare document of any schema version this code knows, as its record."""
    if kind not in DOCUMENTS:
        raise RecordError(f"unknown document kind {kind!r}; one of {', '.join(DOCUMENTS)}")
    version = data.get("schema_version", 1)  # compare documents carried no version before 2
    if version == 1:
        data = upgrade_v1(kind, data)
    elif version != SCHEMA_VERSION:
        raise RecordError(f"a {kind} document of schema version {version}; this cloak-audit reads 1 and "
                          f"{SCHEMA_VERSION} (a newer cloak-audit wrote it?)")
    return from_json(DOCUMENTS[kind], data)


def upgrade_v1(kind: str, data: dict) -> dict:
    """A version-1 document in version 2's shape: the same content, a few keys renamed or added."""
    data = {**data, "schema_version": SCHEMA_VERSION, "kind": kind}
    if kind == "run":
        data["detection"] = [{"cloak_detector": d.get("detector"), "extractor": "dlib-resnet", **d}
                             for d in data.get("detection", [])]  # early reports called it `detector`
    if kind == "verify":
        nan = float("nan")  # version 1 gave the crowd's accuracy without an interval
        data["results"] = [{**r, "normal_accuracy": {"ci95": [nan, nan], **r["normal_accuracy"]}}
                           for r in data["results"]]
    return data


# --- JSON Schema, derived from the records ---------------------------------------------------------


def json_schema(document: type) -> dict:
    """The JSON Schema (2020-12) of a document record: every part an object with exactly its fields."""
    parts: dict[str, dict] = {}

    def schema(kind: Any) -> dict:
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if dataclasses.is_dataclass(kind):
            if kind.__name__ not in parts:
                parts[kind.__name__] = {}  # placeholder while its fields are derived
                hints, properties, required = _hints(kind), {}, []
                for f in dataclasses.fields(kind):
                    key, hint = f.metadata.get("json", f.name), hints[f.name]
                    if f.default is None:  # an optional key, never null
                        hint = typing.Union[tuple(a for a in typing.get_args(hint) if a is not type(None))]
                    else:
                        required.append(key)
                    properties[key] = schema(hint)
                description = (kind.__doc__ or kind.__name__).strip().splitlines()[0]
                parts[kind.__name__] = {"type": "object", "description": description, "properties": properties,
                                        "required": required, "additionalProperties": False}
            return {"$ref": f"#/$defs/{kind.__name__}"}
        if origin in (typing.Union, types.UnionType):
            return {"anyOf": [schema(a) for a in args]}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": schema(args[0])}
            return {"type": "array", "prefixItems": [schema(a) for a in args], "minItems": len(args),
                    "maxItems": len(args)}
        if origin is dict:
            return {"type": "object", "additionalProperties": schema(args[1])}
        if origin is Literal:
            return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
        simple = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}
        return {"type": simple[kind]} if kind in simple else {}

    root = schema(document)["$ref"].split("/")[-1]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://github.com/cloak-audit/cloak-audit/schemas/{schema_file(document)}",
            "title": f"cloak-audit {document.__name__}, schema version {SCHEMA_VERSION}",
            **parts.pop(root), "$defs": dict(sorted(parts.items()))}


def schema_file(document: type) -> str:
    kind = next(k for k, v in DOCUMENTS.items() if v is document)
    return f"{kind}.schema.json"


def shipped_schema(kind: str) -> dict:
    """The schema file in the package for a document kind (run, verify, compare)."""
    text = resources.files("audit").joinpath("schemas", schema_file(DOCUMENTS[kind])).read_text(encoding="utf-8")
    return json.loads(text)


def write_schemas(folder: Path) -> list[Path]:
    """Regenerate the shipped schemas from the records (after a record changes: `python -m audit.records`)."""
    written = []
    for document in DOCUMENTS.values():
        path = folder / schema_file(document)
        path.write_text(json.dumps(json_schema(document), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas(Path(__file__).with_name("schemas")):
        print(path)
