"""Adaptive trackers: which photos detect-and-drop leaves out, and what robust retraining learns."""

from pathlib import Path

import numpy as np
import pytest
import torch

from audit.extractors import load_extractor
from audit.face.pipeline import FacePipeline
from audit.images import read_image
from countermeasures import available_countermeasures, build_countermeasures
from countermeasures.adaptive import DetectAndDrop, RobustRetraining
from trackers import build_tracker


def test_registry_holds_transforms_and_adaptive_trackers_and_sweeps_them():
    assert {"none", "blur", "jpeg", "noise", "augment", "detect-and-drop", "robust-retraining"} == set(
        available_countermeasures())
    swept = build_countermeasures("robust-retraining:public_users=2,4,epochs=3")
    assert [c.label for c in swept] == ["robust-retraining:public_users=2,epochs=3",
                                       "robust-retraining:public_users=4,epochs=3"]
    with pytest.raises(ValueError, match="unknown countermeasure 'sharpen'"):
        build_countermeasures("sharpen")
    with pytest.raises(ValueError, match="unknown detector"):
        build_countermeasures("detect-and-drop:detector=3-means")
    with pytest.raises(ValueError, match="has none"):
        RobustRetraining().check_tracker(build_tracker("scratch"))
    RobustRetraining().check_tracker(build_tracker("faiss"))


def test_detect_and_drop_removes_the_scattered_half_of_a_split_class_only():
    """Clean classes are tight; the "cloaked" class holds 6 tight originals and 6 photos
    scattered far away, as an untargeted cloak leaves them."""
    rng = np.random.default_rng(0)
    features, labels = [], []
    for i, centre in enumerate(rng.normal(0, 1.0, (30, 16))):
        points = centre + rng.normal(0, 0.05, (12, 16))
        if i == 0:
            points[6:] += rng.normal(0, 1.0, 16) + rng.normal(0, 0.3, (6, 16))
        features.append(points)
        labels += [f"person{i}"] * 12
    paths = [Path(f"{label}_{n}.jpg") for n, label in enumerate(labels)]
    # clean synthetic classes reach robust z-scores of 4; the split one, about 200
    dropped = DetectAndDrop(detector="2-means:threshold=10").suspects(np.concatenate(features), labels, paths)
    assert set(dropped) == set(paths[6:12])
    assert all("person0 flagged by 2-means:threshold=10" in reason for reason in dropped.values())


def test_robust_fine_tuning_maps_perturbed_chips_back_to_their_clean_embeddings(lfw_root):
    extractor = load_extractor("dlib-resnet")
    pipeline = FacePipeline(extractor)
    photos = sorted((lfw_root / "Colin_Powell").glob("*.jpg"))[:12]
    clean = torch.stack([pipeline.chip(read_image(p))[0] for p in photos])
    noise = torch.Generator().manual_seed(0)
    perturbed = (clean + 30 * torch.randn(clean.shape, generator=noise)).clamp(0, 255)
    train, held_out = slice(0, 8), slice(8, 12)

    def gap(module, chips):
        with torch.no_grad():
            return (module(chips) - extractor.module(clean[held_out])).norm(dim=1).mean().item()

    retraining = RobustRetraining(epochs=8, batch_size=4)
    model, losses = retraining.fine_tune(extractor.module, torch.stack([clean[train], perturbed[train]], dim=1))
    assert losses[-1] < losses[0]
    # on photos it never saw: perturbed chips land nearer their clean embeddings than before
    assert gap(model, perturbed[held_out]) < gap(extractor.module, perturbed[held_out])
    assert gap(model, clean[held_out]) < 0.2  # and clean photos stay near (same person: < 0.6)
