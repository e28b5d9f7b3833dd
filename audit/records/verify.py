"""`verify.json`, the document of `audit verify`: does this cloak protect this person?"""

from __future__ import annotations

from typing import Any, Literal

from audit.records.parts import SCHEMA_VERSION, CellCounts, Environment, ExamplePair, Perturbation, Rate, Skip, record


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
