"""Conformance of every registered plugin, by `audit.plugins.check_plugin` (the check an outside plugin's own
CI runs): parameters come from the constructor, in one place.

For each plugin, every constructor argument is given a value other than its default; the check
confirms that `params()` returns it unchanged, that the spec string it writes builds the same
plugin again, that `clone()` copies it, and that changing any one option changes the label and
the cache key. A new plugin, or a new option, fails here until it is listed below.
"""

from __future__ import annotations

import os
import stat
import sys
from importlib.metadata import EntryPoint

import pytest
from click.testing import CliRunner

import audit.plugins
from audit.cli import main
from audit.cloakers import build_cloaker
from audit.cloakers.external import OfficialFawkes
from audit.cloakers.fawkes import FawkesCloak
from audit.cloakers.fawkes_targeted import FawkesTargetedCloak
from audit.extractors.user_models import OnnxSpec
from audit.plan import RunPlan
from audit.plugins import KINDS, check_plugin, registered
from countermeasures import build_countermeasures
from trackers import build_tracker

CALL = {"endpoint": "http://127.0.0.1:9", "rate": 2.0, "retries": 1, "backoff": 0.5}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Files and folders the options name (their contents do not matter: nothing is loaded)."""
    root = tmp_path_factory.mktemp("plugin-files")
    made = {}
    for name in ("model-a.onnx", "model-b.onnx", "model-a.pt", "model-b.pt", "weights.dat"):
        (root / name).write_bytes(b"x")
        made[name] = str(root / name)
    for name in ("copies-a", "copies-b"):
        (root / name).mkdir()
        made[name] = str(root / name)
    binaries = root / "bin"
    binaries.mkdir()
    for name in ("fawkes", "fawkes-other"):  # the official command line, as found on PATH
        path = binaries / name
        path.write_text(f"#!{sys.executable}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    made["bin"] = str(binaries)
    return made


def cases(f: dict[str, str]) -> dict[tuple[str, str], tuple[dict, dict]]:
    """(kind, plugin) → (required options, a non-default value for every option)."""
    other_model = f"onnx:{f['model-a.onnx']},size=96"  # a nested spec with options: written in brackets
    pipeline = {"extractor": other_model, "face_detector": "dlib-hog:upsample=0", "device": "cpu"}
    output = {"output_format": "jpeg", "quality": 80}
    fawkes = {"mode": "high", **pipeline, "th": 0.01, "max_step": 5, "lr": 2.0, "max_change": 8.0,
              "budget": "lpips:0.03", "batch_size": 4, "device": "cpu", **output}
    copy = f"{f['bin']}/fawkes {{input_dir}} {{output_dir}}"
    return {
        ("cloaker", "none"): ({}, {}),
        ("cloaker", "noise"): ({}, {"budget": "lpips:0.02", "seed": 1, **output}),
        ("cloaker", "fawkes"): ({}, fawkes),
        ("cloaker", "fawkes-v0.3"): ({}, {**fawkes, "candidates": 3, "min_target_photos": 2, "target_photos": 4,
                                          "seed": 1}),
        ("cloaker", "lowkey"): ({}, {"extractor": f"dlib-resnet+[{other_model}]", "face_detector": "dlib-hog",
                                     "perceptual": "dssim", "weight": 0.1, "dssim": 0.01, "steps": 5, "step_size": 1.0,
                                     "smoothed": False, "budget": "dssim:0.02", "batch_size": 4, "device": "cpu",
                                     **output}),
        ("cloaker", "fawkes-official"): ({}, {"mode": "high", "binary": "fawkes-other", "timeout": 60.0}),
        ("cloaker", "command"): ({"template": copy}, {"template": copy.replace("fawkes ", "fawkes-other "),
                                                       "timeout": 60.0}),
        ("cloaker", "precomputed"): ({"dir": f["copies-a"]}, {"dir": f["copies-b"], "mode": "high"}),
        ("tracker", "faiss"): ({}, {"index": "hnsw", "k": 3, "threshold": 0.5, "nlist": 4, "nprobe": 2, "m": 16, "ef_search": 16,
                                    **pipeline}),
        ("tracker", "linear-probe"): ({}, {"head": "softmax", "c": 0.5, "epochs": 5, "lr": 0.1, "seed": 1, **pipeline}),
        ("tracker", "scratch"): ({}, {"arch": "resnet", "size": 48, "width": 8, "epochs": 2, "lr": 0.01,
                                      "batch_size": 16, "seed": 1, "face_detector": "dlib-hog", "device": "cpu"}),
        ("tracker", "rekognition"): ({}, {"threshold": 90.0, "max_faces": 10, "region": "eu-west-1", **CALL}),
        ("tracker", "azure"): ({}, {"threshold": 0.5, "candidates": 5, "detection_model": "detection_01",
                                    "recognition_model": "recognition_03", "poll_seconds": 1.0, **CALL}),
        ("tracker", "facepp"): ({}, {"threshold": "1e-5", "region": "cn", **CALL}),
        ("countermeasure", "none"): ({}, {"at": "train,test"}),
        ("countermeasure", "blur"): ({}, {"kernel": 7, "sigma": 1.5, "at": "train,test"}),
        ("countermeasure", "jpeg"): ({}, {"quality": 30, "at": "test"}),
        ("countermeasure", "noise"): ({}, {"sigma": 4.0, "at": "train,test"}),
        ("countermeasure", "augment"): ({}, {"copies": 2, "rotation": 10.0, "shift": 0.1, "zoom": 0.1, "flip": False}),
        ("countermeasure", "detect-and-drop"): ({}, {"cloak_detector": "target-closeness", "extractor": other_model,
                                                     "seed": 1}),
        ("countermeasure", "robust-retraining"): ({}, {"public_users": 3, "photos": 4, "epochs": 2, "lr": 0.01,
                                                       "batch_size": 8, "extractor": other_model, "seed": 1,
                                                       "device": "cpu"}),
        ("cloak detector", "2-means"): ({}, {"seed": 1, "n_init": 3, "threshold": 2.0, "extractor": other_model}),
        ("cloak detector", "target-closeness"): ({}, {"threshold": 2.0, "extractor": other_model}),
        ("face detector", "mtcnn"): ({}, {"min_face_size": 40}),
        ("face detector", "dlib-hog"): ({}, {"upsample": 0}),
        ("extractor", "dlib-resnet"): ({}, {"weights": f["weights.dat"]}),
        ("extractor", "mobilefacenet"): ({}, {"weights": f["weights.dat"]}),
        ("extractor", "faceres"): ({}, {"weights": f["weights.dat"], "margin": 0.2}),
        ("extractor", "facenet-vggface2"): ({}, {"weights": f["weights.dat"]}),
        ("extractor", "facenet-casia"): ({}, {"weights": f["weights.dat"]}),
        ("extractor", "onnx"): ({"path": f["model-a.onnx"]}, {"path": f["model-b.onnx"], "size": 96,
                                                             "template": "dlib", "pixels": "0..1", "margin": 0.1}),
        ("extractor", "torchscript"): ({"path": f["model-a.pt"]}, {"path": f["model-b.pt"], "size": 96,
                                                                  "template": "dlib", "pixels": "0..255",
                                                                  "margin": 0.1}),
        ("executor", "local"): ({}, {}),
        ("executor", "ray"): ({}, {"address": "10.0.0.5:6379", "num_cpus_per_cloak": 2.0, "num_gpus_per_cloak": 1.0,
                                   "num_cpus_per_cell": 0.5, "num_gpus_per_cell": 0.5, "max_retries": 0,
                                   "lost_after": 30.0}),
    }


REGISTERED = [(kind, name) for kind in KINDS for name in registered(kind)]


@pytest.fixture(autouse=True)
def stand_in_on_path(files, monkeypatch):
    monkeypatch.setenv("PATH", f"{files['bin']}{os.pathsep}{os.environ['PATH']}")


def test_every_registered_plugin_is_covered(files):
    assert sorted(REGISTERED) == sorted(cases(files))


@pytest.mark.parametrize("kind, plugin", REGISTERED, ids=[f"{k}-{p}" for k, p in REGISTERED])
def test_every_plugin_keeps_the_plugin_promises(kind, plugin, files):
    required, varied = cases(files)[(kind, plugin)]
    check_plugin(kind, plugin, required, varied)


def register(monkeypatch, group: str, name: str, value: str) -> None:
    """The plugin at `value` (module:class), as an outside package registers it in its entry-point group."""
    entry = EntryPoint(name, value, group)
    monkeypatch.setattr(audit.plugins, "entry_points", lambda group=None: [entry] if group == entry.group else [])


def test_the_check_fails_a_plugin_that_breaks_a_promise(monkeypatch):
    register(monkeypatch, "cloak_audit.cloakers", "doubling", "tests.cloakers.plugin:DoublingCloak")
    with pytest.raises(AssertionError, match="stores each option as given"):
        check_plugin("cloaker", "doubling", varied={"level": 3, "output_format": "jpeg", "quality": 80})


def test_an_outside_cloaker_registered_by_entry_point_passes_the_check(monkeypatch):
    register(monkeypatch, "cloak_audit.cloakers", "grey", "tests.cloakers.plugin:GreyCloak")
    check_plugin("cloaker", "grey", varied={"level": 10, "output_format": "jpeg", "quality": 80})
    assert build_cloaker("grey:level=10").params() == {"level": 10, "output_format": "png", "quality": 95}
    register(monkeypatch, "cloak_audit.cloakers", "noise", "tests.cloakers.plugin:GreyCloak")
    with pytest.raises(ValueError, match="takes the name of a built-in cloaker"):
        registered("cloaker")


def test_every_kind_takes_outside_plugins_from_its_own_group(monkeypatch):
    assert len({kind.group for kind in KINDS.values()}) == len(KINDS)
    register(monkeypatch, "cloak_audit.trackers", "grey", "tests.cloakers.plugin:GreyCloak")  # a cloaker is no tracker
    with pytest.raises(TypeError, match=r"grey = tests.cloakers.plugin:GreyCloak \(cloak_audit.trackers\) is not a "
                                        "Tracker subclass"):
        registered("tracker")


def test_old_option_names_fail_with_the_new_name():
    with pytest.raises(ValueError, match="detector= is now called face_detector="):
        build_tracker("faiss:detector=mtcnn")
    with pytest.raises(ValueError, match="detector= is now called face_detector="):
        build_cloaker("fawkes:detector=mtcnn")
    with pytest.raises(ValueError, match="detector= is now called cloak_detector="):
        build_countermeasures("detect-and-drop:detector=2-means")


def test_the_fawkes_variants_are_registered_under_their_own_names():
    cloakers = registered("cloaker")
    assert cloakers["fawkes"] is FawkesCloak and cloakers["fawkes-v0.3"] is FawkesTargetedCloak
    assert cloakers["fawkes-official"] is OfficialFawkes
    listed = [line.split()[0] for line in CliRunner().invoke(main, ["list", "cloakers"]).output.splitlines()]
    assert {"fawkes", "fawkes-v0.3", "fawkes-official"} <= set(listed)


def test_a_nested_spec_is_parsed_once_and_travels_as_an_object(files, monkeypatch):
    """The nested extractor of a tracker is parsed where the spec enters, never again: not by the tracker's
    clones (one per cell), its label, cache key, model name or pipeline, nor by robust retraining's swap."""
    parsed = []
    construct = audit.plugins.construct
    monkeypatch.setattr(audit.plugins, "construct",
                        lambda cls, name, *rest: parsed.append(name) or construct(cls, name, *rest))
    model = f"onnx:{files['model-a.onnx']},size=96"
    tracker = build_tracker(f"faiss:k=3,extractor=[{model}]")
    assert parsed == ["faiss", "onnx", "mtcnn"]  # the tracker, its extractor, its face detector's default
    nested = tracker.extractor
    assert isinstance(nested, OnnxSpec) and nested.size == 96 and tracker.params()["extractor"] is nested
    twins = [tracker.clone() for _ in range(3)]
    assert [type(twin.extractor) for twin in twins] == [OnnxSpec] * 3
    assert all(twin.extractor is not nested and twin.extractor.params() == nested.params() for twin in twins)
    assert tracker.label == f"faiss:k=3,extractor=[onnx:path={files['model-a.onnx']},size=96]"
    assert "size=96" in tracker.cache_id and tracker.model == f"onnx:path={files['model-a.onnx']},size=96"
    deeper = tracker.clone(extractor__size=112)  # scikit-learn's nested set_params, through clone
    assert deeper.extractor.size == 112 and tracker.extractor.size == 96
    assert tracker.params(deep=True)["extractor__size"] == 96
    assert parsed == ["faiss", "onnx", "mtcnn"]
    run = RunPlan(cloakers="none", trackers=(tracker,), countermeasures=("blur:kernel=3,5",))
    assert run.trackers[0] is tracker and [c.spec for c in run.countermeasures] == ["blur:kernel=3", "blur:kernel=5"]
    assert parsed.count("onnx") == 1


def test_a_swept_countermeasure_builds_one_per_setting():
    assert [c.spec for c in build_countermeasures("blur:kernel=3,5,7")] == ["blur:kernel=3", "blur:kernel=5",
                                                                            "blur:kernel=7"]
    assert [c.spec for c in build_countermeasures("jpeg:quality=10,30,at=[train,test]")] == [
        "jpeg:quality=10,at=[train,test]", "jpeg:quality=30,at=[train,test]"]
    assert build_cloaker("fawkes-v0.3").spec == "fawkes-v0.3"
