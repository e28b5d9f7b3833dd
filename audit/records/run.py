"""`report.json`, the document of `audit run`, and its parts: a cell's result, pooled seeds, detection, the
protocol, budgets and protection–cost curves, cloud use."""

from __future__ import annotations

from typing import Any, Literal

from audit.records.parts import (SCHEMA_VERSION, CellCounts, CloakerRecord, Environment, ExamplePair, Perturbation,
                                 Rate, Skip, json_name, record)


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
class CloudUse:
    """What the cloud trackers spent and created (never a credential)."""

    run_id: str
    api_calls: dict[str, int]
    max_api_calls: int | None
    created: tuple[str, ...]
    deleted: tuple[str, ...]
    leftovers: tuple[str, ...]


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
