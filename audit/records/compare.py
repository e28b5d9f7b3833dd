"""`compare.json`, the document of `audit compare`: the change in protection from run A to run B."""

from __future__ import annotations

from typing import Any, Literal

from audit.records.parts import SCHEMA_VERSION, record


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
