"""Adaptive trackers: which photos detect-and-drop leaves out, and what robust retraining learns."""

from pathlib import Path

import numpy as np
import pytest
import torch

from audit.cloakers import build_cloaker
from audit.embedding.pipeline import FacePipeline
from audit.extractors import extractor_spec, load_extractor
from audit.face.detection import build_face_detector
from audit.images import read_image
from audit.plugins import registered
from countermeasures import build_countermeasures
from countermeasures.adaptive import DetectAndDrop, RobustRetraining
from tests.extractors.test_user_models import model_file
from trackers import build_tracker


def test_registry_holds_transforms_and_adaptive_trackers_and_sweeps_them():
    assert {"none", "blur", "jpeg", "noise", "augment", "detect-and-drop", "robust-retraining"} == set(
        registered("countermeasure"))
    swept = build_countermeasures("robust-retraining:public_users=2,4,epochs=3")
    assert [c.label for c in swept] == ["robust-retraining:public_users=2,epochs=3",
                                       "robust-retraining:public_users=4,epochs=3"]
    with pytest.raises(ValueError, match="unknown countermeasure 'sharpen'"):
        build_countermeasures("sharpen")
    with pytest.raises(ValueError, match="unknown cloak detector"):
        build_countermeasures("detect-and-drop:cloak_detector=3-means")
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
    dropped = DetectAndDrop(cloak_detector="2-means:threshold=10").suspects(np.concatenate(features), labels, paths)
    assert set(dropped) == set(paths[6:12])
    assert all("person0 flagged by 2-means:threshold=10" in reason for reason in dropped.values())


@pytest.mark.parametrize("name", ["dlib-resnet", "mobilefacenet", "faceres"])
def test_robust_fine_tuning_maps_perturbed_chips_back_to_their_clean_embeddings(lfw_root, name):
    """Every built-in model fine-tunes: the imported graphs' weights train too (they once had no parameters)."""
    extractor = load_extractor(name)
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
    assert gap(model, clean[held_out]) < 0.5 * gap(extractor.module, perturbed[held_out])  # and clean ones stay near


def test_two_settings_are_two_cells():
    """Every option, not a hand-picked few, tells countermeasures apart (they used to share a label)."""
    from audit.cells import with_baseline
    from audit.plan import RunPlan

    written = ("robust-retraining:lr=1e-3,1e-2", "detect-and-drop", "detect-and-drop:seed=0", "detect-and-drop:seed=1",
               "detect-and-drop:extractor=dlib-resnet")
    chosen = with_baseline(RunPlan(countermeasures=written).countermeasures)
    assert [c.label for c in chosen] == ["none", "robust-retraining:lr=0.001", "robust-retraining:lr=0.01",
                                         "detect-and-drop", "detect-and-drop:seed=1",
                                         "detect-and-drop:extractor=dlib-resnet"]  # seed=0 is the default: one cell
    assert len({c.cache_id for c in chosen}) == len(chosen)


@pytest.fixture(scope="module")
def other_model(tmp_path_factory) -> str:
    """A second extractor saved as TorchScript (dlib-resnet's weights under another file: another model name)."""
    from audit.extractors.user_models import save_torchscript

    path = tmp_path_factory.mktemp("models") / "other.pt"
    extractor = load_extractor("dlib-resnet")
    save_torchscript(extractor.module, path, extractor.input_size, "dlib", "0..255")
    return f"torchscript:{path}"


def test_adaptive_countermeasures_work_on_the_model_of_the_tracker_they_serve(other_model):
    tracker = build_tracker(f"faiss:extractor={other_model}")
    own = extractor_spec(other_model).spec  # its canonical spec: torchscript:path=...
    assert DetectAndDrop().notes(tracker) == {"extractor": own}
    assert DetectAndDrop(extractor="dlib-resnet").notes(tracker) == {"extractor": "dlib-resnet"}
    assert DetectAndDrop().notes(build_tracker("scratch")) == {"extractor": "dlib-resnet"}  # it has no model
    assert [p.spec for p in RobustRetraining().base_model(tracker)] == [own, "mtcnn"]
    assert [p.spec for p in RobustRetraining(extractor="dlib-resnet").base_model(tracker)] == ["dlib-resnet", "mtcnn"]
    # a robust copy of a model is judged white-box or transfer as the model it was fine-tuned from
    assert RobustRetraining().derived_from(tracker) == tracker.model == DetectAndDrop().derived_from(tracker)
    assert RobustRetraining(extractor="dlib-resnet").derived_from(tracker) == build_tracker("faiss").model


def test_robust_retraining_refuses_a_model_torch_cannot_train_before_cloaking(tmp_path):
    onnx_model = f"onnx:{model_file(tmp_path)},size=16,pixels=0..255"
    with pytest.raises(ValueError, match="has no weights torch can train"):
        RobustRetraining().robust_extractor(extractor_spec(onnx_model), build_face_detector("mtcnn"),
                                            {"someone": [tmp_path / "a.jpg"]}, build_cloaker("none"), [])
