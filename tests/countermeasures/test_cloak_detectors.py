"""Cloak detectors on features with a known answer, and the detection record's figures."""

import numpy as np
import pytest

from audit.plugins import registered
from audit.records import to_json
from countermeasures.cloak_detectors import build_cloak_detector, detection_record


def classes(rng, n_clean=30, n_split=10, n_near=0, photos=12, dim=16):
    """Clean classes are one tight cluster each; "split" ones are two far-apart clusters (cloaked +
    leaked originals); "near" ones sit right beside another class (pulled towards a target)."""
    centres = rng.normal(0, 1.0, (n_clean + n_split + n_near, dim))
    features, labels = [], []
    for i, centre in enumerate(centres):
        name = f"clean{i}" if i < n_clean else f"split{i}" if i < n_clean + n_split else f"near{i}"
        if name.startswith("near"):
            centre = centres[i - n_clean - n_split] + 0.05  # next to clean class 0, 1, ...
        points = centre + rng.normal(0, 0.05, (photos, dim))
        if name.startswith("split"):
            points[: photos // 2] += rng.normal(0, 1.0, dim)  # half the photos moved far away
        features.append(points)
        labels += [name] * photos
    return np.concatenate(features), labels


def test_two_means_flags_classes_that_split_in_two():
    features, labels = classes(np.random.default_rng(0))
    detector = build_cloak_detector("2-means").fit(features, labels)
    protected = sorted({n for n in labels if n.startswith("split")})
    record = detection_record(detector, protected)
    assert record["auc"] == 1.0 and record["tpr_at_5fpr"] == 1.0
    assert record["n_protected"] == 10 and record["n_clean"] == 30
    assert record["confusion"].true_positives == 10 and record["confusion"].false_positives == 0
    assert {c.class_ for c in record["per_class"] if c.flagged} == set(protected)


def test_target_closeness_flags_classes_pulled_next_to_another():
    features, labels = classes(np.random.default_rng(1), n_split=0, n_near=5)
    detector = build_cloak_detector("target-closeness").fit(features, labels)
    near = {n for n in labels if n.startswith("near")}
    # a near class and the class it sits beside are equally close; the near ones must rank on top
    top = sorted(detector.scores_, key=detector.scores_.get, reverse=True)[:10]
    assert near <= set(top)
    assert detection_record(detector, sorted(near))["auc"] > 0.8


def test_detection_record_without_both_kinds_of_class_has_no_auc():
    features, labels = classes(np.random.default_rng(2), n_clean=5, n_split=0)
    record = detection_record(build_cloak_detector("2-means").fit(features, labels), [])
    assert record["auc"] is None and record["tpr_at_5fpr"] is None
    assert sum(to_json(record["confusion"]).values()) == 5


def test_registry_and_option_errors():
    assert set(registered("cloak detector")) == {"2-means", "target-closeness"}
    assert repr(build_cloak_detector("2-means:threshold=3")) == (
        "TwoMeansDetector(seed=0, n_init=10, threshold=3.0, extractor=None)")
    with pytest.raises(ValueError, match="unknown cloak detector"):
        build_cloak_detector("3-means")
    with pytest.raises(ValueError, match="unknown option"):
        build_cloak_detector("2-means:k=3")
