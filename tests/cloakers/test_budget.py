"""One visibility budget for every built-in cloak, measured on the photo as saved, and never overrun."""

import numpy as np
import pytest

from audit.cloakers import build_cloaker, build_cloakers
from audit.cloakers.budget import Budget, within_budget
from audit.costs import measured_cost
from audit.images import read_image


@pytest.fixture
def photos(small_lfw):
    return sorted(small_lfw.glob("*/*.jpg"))[:2]


def costs(result: dict, metric: str) -> list[float]:
    return [getattr(measured_cost(read_image(o), read_image(c)), metric) for o, c in result.items()]


def test_a_budget_is_one_metric_and_one_limit_written_one_way():
    assert Budget.parse("lpips:0.040") == Budget("lpips", 0.04) and str(Budget.parse("dssim:0.0100")) == "dssim:0.01"
    assert build_cloaker("noise:budget=lpips:0.040").cache_id == build_cloaker("noise:budget=lpips:0.04").cache_id
    for bad, message in (("0.05", "write METRIC:LIMIT"), ("ssim:0.1", "write METRIC:LIMIT"),
                         ("lpips:high", "is not a number"), ("dssim:0.7", r"lies in \(0, 0.5\)")):
        with pytest.raises(ValueError, match=message):
            Budget.parse(bad)


def test_a_list_of_budgets_sweeps_and_carries_its_metric():
    swept = build_cloakers("fawkes:mode=high,budget=lpips:0.02,0.04,extractor=[dlib-resnet+mobilefacenet]")
    assert [c.spec for c in swept] == [f"fawkes:mode=high,extractor=[dlib-resnet+mobilefacenet],budget=lpips:{limit}"
                                       for limit in ("0.02", "0.04")]
    assert [c.budget for c in build_cloakers("noise:budget=dssim:0.01")] == [Budget("dssim", 0.01)]
    with pytest.raises(ValueError, match="names no metric"):
        build_cloakers("noise:budget=0.01,0.02")
    with pytest.raises(ValueError, match="appears twice"):
        build_cloakers("noise:budget=lpips:0.02,0.020")


@pytest.mark.parametrize("metric, limit", [("lpips", 0.03), ("dssim", 0.004)])
def test_noise_reaches_its_budget_in_either_metric(photos, tmp_path, metric, limit):
    spent = costs(build_cloaker(f"noise:budget={metric}:{limit}").cloak(photos, tmp_path), metric)
    assert all(0.9 * limit <= cost <= limit for cost in spent), spent


def test_fawkes_holds_a_single_model_and_an_ensemble_to_the_same_photo_budget(photos, tmp_path):
    for name, extractor in (("single", "dlib-resnet"), ("ensemble", "[dlib-resnet+mobilefacenet]")):
        cloaker = build_cloaker(f"fawkes:mode=high,max_step=12,extractor={extractor},budget=lpips:0.015")
        spent = costs(cloaker.cloak(photos, tmp_path / name), "lpips")
        assert max(spent) <= 0.015 and min(spent) > 0.005, (name, spent)


def test_a_copy_over_its_budget_is_scaled_back_and_one_that_cannot_fit_is_a_skip(photos, tmp_path):
    original = read_image(photos[0])
    loud = np.clip(original + np.random.default_rng(0).normal(0, 30, original.shape), 0, 255).astype(np.uint8)
    budget = Budget("lpips", 0.02)
    assert budget.measure(original, loud) > 0.02
    kept = within_budget(budget, original, loud)
    assert 0.01 < budget.measure(original, kept) <= 0.02
    # a JPEG at quality 5 costs more than the budget by itself: no cloak fits, and the copy is a skip
    reason = within_budget(Budget("dssim", 0.001), original, loud, "jpeg", 5)
    assert isinstance(reason, str) and reason.startswith("no cloak within budget dssim:0.001")
    skipped = build_cloaker("noise:budget=dssim:0.001,output_format=jpeg,quality=5").cloak(photos[:1], tmp_path)
    assert skipped[photos[0]].startswith("no cloak within budget dssim:0.001: the smallest change")
