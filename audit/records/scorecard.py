"""`scorecard.json`, the document of `audit bench`: one cloak against one version of a battery."""

from __future__ import annotations

from typing import Literal

from audit.records.parts import SCHEMA_VERSION, CloakerRecord, Environment, Perturbation, Rate, record


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
