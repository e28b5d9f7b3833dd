"""The rules that turn rates into words, at and around their named thresholds."""

from __future__ import annotations

import math

import pytest

from audit.records import Rate, VerifyResult
from audit.verdicts import (BEYOND_CONTROL, NOT_PROTECTED_AT, PROTECTED_AT, VERDICT_MEANING, VERIFY_VERDICTS,
                            cell_verdict, change_verdict, overall_verdict, tracker_verdict, verdicts_by_model)
from tests.builders import cell


def rate(value: float, low: float = 0.0, high: float = 1.0, n: int = 20) -> Rate:
    return Rate(rate=value, ci95=(low, high), n_photos=n)


def test_a_cell_protects_only_beyond_the_controls_interval():
    control = rate(0.05, 0.0, 0.15)
    assert cell_verdict(cell(protection=rate(0.9, 0.7, 1.0), control=control)).startswith("protects")
    # overlapping intervals: a high figure alone is not a claim of protection
    assert cell_verdict(cell(protection=rate(0.3, 0.1, 0.5), control=control)).startswith("no protection")
    nothing = rate(math.nan, math.nan, math.nan, 0)
    assert cell_verdict(cell(protection=nothing, control=control)) == "no usable test photos"


def tried(protection: float, control: float, tries: int = 20, model: str = "dlib-resnet") -> VerifyResult:
    hidden, control_hidden = rate(protection, n=tries), rate(control, n=tries)
    return VerifyResult(tracker="faiss", tracker_params={}, countermeasure="none", tracker_extractor=model, tries=tries,
                        found=round(tries * (1 - protection)), control_found=round(tries * (1 - control)),
                        protection=hidden, control=control_hidden, normal_accuracy=rate(1.0), hidden_photos=(),
                        verdict=tracker_verdict(tries, hidden, control_hidden))


@pytest.mark.parametrize("protection, control, expected", [
    (NOT_PROTECTED_AT, 0.0, "NOT PROTECTED"), (NOT_PROTECTED_AT + 0.05, 0.0, "PARTLY PROTECTED"),
    (PROTECTED_AT, 0.0, "PROTECTED"), (PROTECTED_AT - 0.05, 0.0, "PARTLY PROTECTED"),
    (PROTECTED_AT, PROTECTED_AT - BEYOND_CONTROL + 0.05, "PARTLY PROTECTED"), (1.0, 0.55, "INCONCLUSIVE")])
def test_verify_thresholds(protection, control, expected):
    assert tried(protection, control).verdict == expected
    assert expected in VERDICT_MEANING


def test_no_tries_is_inconclusive_and_the_weakest_conclusive_verdict_wins():
    assert tried(1.0, 0.0, tries=0).verdict == "INCONCLUSIVE"
    results = [tried(1.0, 0.0), tried(0.1, 0.0, model="mobilefacenet"), tried(1.0, 0.9, model="faceres")]
    assert overall_verdict(results) == "NOT PROTECTED" == VERIFY_VERDICTS[0]
    assert verdicts_by_model(results) == {"dlib-resnet": "PROTECTED", "mobilefacenet": "NOT PROTECTED",
                                          "faceres": "INCONCLUSIVE"}
    assert overall_verdict([tried(1.0, 0.9)]) == "INCONCLUSIVE"


def test_a_change_needs_its_whole_interval_on_one_side_of_zero():
    assert change_verdict((0.01, 0.3)) == "better"
    assert change_verdict((-0.3, -0.01)) == "worse"
    assert change_verdict((-0.1, 0.2)) == "no detectable change"
