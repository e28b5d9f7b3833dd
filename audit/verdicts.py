"""Every rule that turns rates into words, in one place: a run's cells, `audit verify`, `audit compare`.

The thresholds are named here and documented in the README; reports only print what these
functions return.
"""

from __future__ import annotations

from collections.abc import Sequence

from audit.records import CellResult, Rate, VerifyResult

# audit verify: rates over one person's tries
NOT_PROTECTED_AT = 0.2  # found in at least 80% of tries
PROTECTED_AT = 0.8  # hidden in at least 80% of tries ...
BEYOND_CONTROL = 0.5  # ... and by at least 50 points more than without cloaks
INCONCLUSIVE_CONTROL = 0.5  # a tracker that misses the person half the time uncloaked proves nothing
VERIFY_VERDICTS = ("NOT PROTECTED", "PARTLY PROTECTED", "PROTECTED")  # weakest first
VERDICT_MEANING = {
    "PROTECTED": "the trackers tried here mostly failed to find you",
    "PARTLY PROTECTED": "the cloaks hid you sometimes, not reliably",
    "NOT PROTECTED": "a tracker found you in most tries despite the cloaks",
    "INCONCLUSIVE": "the trackers could not recognize you even without cloaks, so this test says nothing",
}

# audit compare: B's protection minus A's
CHANGE_VERDICTS = ("better", "worse", "no detectable change")


def protects_beyond_control(protection: Rate, control: Rate) -> bool:
    """A cell protects only when its protection's whole 95% interval lies above the control's."""
    return protection.n_photos > 0 and protection.ci95[0] > control.ci95[1]


def cell_verdict(result: CellResult) -> str:
    """A run's cell, in words (`protects_beyond_control`)."""
    if result.protection.n_photos == 0:
        return "no usable test photos"
    if protects_beyond_control(result.protection, result.control):
        return "protects (beyond the control)"
    return "no protection beyond the control"


def tracker_verdict(tries: int, hidden: Rate, control_hidden: Rate) -> str:
    """`audit verify`'s word for one tracker, from its protection and control rates over the person's tries."""
    if tries == 0:
        return "INCONCLUSIVE"
    protection, control = hidden.rate, control_hidden.rate
    if control > INCONCLUSIVE_CONTROL:
        return "INCONCLUSIVE"
    if protection <= NOT_PROTECTED_AT:
        return "NOT PROTECTED"
    if protection >= PROTECTED_AT and protection - control >= BEYOND_CONTROL:
        return "PROTECTED"
    return "PARTLY PROTECTED"


def overall_verdict(results: Sequence[VerifyResult]) -> str:
    """The weakest conclusive verdict: a tracker that finds you is the one that matters."""
    conclusive = [r.verdict for r in results if r.verdict in VERIFY_VERDICTS]
    return min(conclusive, key=VERIFY_VERDICTS.index) if conclusive else "INCONCLUSIVE"


def verdicts_by_model(results: Sequence[VerifyResult]) -> dict[str, str]:
    """Per tracker model, the weakest verdict of the trackers on it."""
    models = dict.fromkeys(r.tracker_extractor for r in results)
    return {model: overall_verdict([r for r in results if r.tracker_extractor == model]) for model in models}


def change_verdict(ci95: tuple[float, float]) -> str:
    """Better or worse only when the change's whole 95% interval is on one side of zero."""
    return "better" if ci95[0] > 0 else "worse" if ci95[1] < 0 else "no detectable change"
