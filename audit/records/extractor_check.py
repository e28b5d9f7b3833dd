"""The document of `audit check-extractor --json`: a face model's LFW View 2 verification accuracy."""

from __future__ import annotations

from typing import Literal

from audit.records.parts import SCHEMA_VERSION, Environment, Skip, record


@record
class FoldAccuracy:
    """One View 2 fold: the threshold chosen on the other folds (or the model's own), and the accuracy at it."""

    fold: int
    threshold: float
    accuracy: float
    n_pairs: int
    n_unusable: int  # pairs with a photo that could not be embedded: counted as errors


@record
class ExtractorCheck:
    """`audit check-extractor --json`: a model's LFW View 2 accuracy, fold by fold."""

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["extractor-check"] = "extractor-check"
    extractor: str
    face_detector: str
    folds: tuple[int, ...]
    mean_accuracy: float
    sd_accuracy: float  # over folds (0 for one fold)
    fixed_threshold: bool  # one fold alone: the model's own threshold, not one chosen on other folds
    per_fold: tuple[FoldAccuracy, ...]
    n_photos: int
    unusable: tuple[Skip, ...]  # photos that could not be embedded, with the reason
    centre_cropped: tuple[str, ...]  # photos without a detected face, embedded as a centre crop
    environment: Environment
