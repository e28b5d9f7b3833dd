"""Conformance of every registered plugin: parameters come from the constructor, in one place.

For each plugin, every constructor argument is given a value other than its default; the test
checks that `params()` returns it unchanged, that the spec string it writes builds the same
plugin again, and that changing any one option changes the label and the cache key. A new
plugin, or a new option, fails here until it is listed below.
"""

from __future__ import annotations

import os
import stat
import sys

import pytest

from audit.cloakers import BUILT_IN, build_cloaker
from audit.cloakers.external import OfficialFawkes
from audit.cloakers.fawkes_targeted import FawkesTargetedCloak
from audit.executors import EXECUTORS, build_executor
from audit.extractors import _registry as extractor_registry
from audit.extractors import extractor_spec
from audit.face.detection import FACE_DETECTORS, build_face_detector
from audit.options import format_spec
from countermeasures import build_countermeasures
from countermeasures.adaptive import ADAPTIVE
from countermeasures.cloak_detectors import CLOAK_DETECTORS, build_cloak_detector
from countermeasures.transforms import TRANSFORMS
from trackers import TRACKERS, build_tracker

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
        ("cloaker", "fawkes v0.3"): ({}, {**fawkes, "candidates": 3, "min_target_photos": 2, "target_photos": 4,
                                          "seed": 1}),
        ("cloaker", "lowkey"): ({}, {"extractor": f"dlib-resnet+[{other_model}]", "face_detector": "dlib-hog",
                                     "perceptual": "dssim", "weight": 0.1, "dssim": 0.01, "steps": 5, "step_size": 1.0,
                                     "smoothed": False, "budget": "dssim:0.02", "batch_size": 4, "device": "cpu",
                                     **output}),
        ("cloaker", "fawkes official"): ({}, {"mode": "high", "binary": "fawkes-other", "timeout": 60.0}),
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
                                                             "template": "dlib", "pixels": "0..1"}),
        ("extractor", "torchscript"): ({"path": f["model-a.pt"]}, {"path": f["model-b.pt"], "size": 96,
                                                                  "template": "dlib", "pixels": "0..255"}),
        ("executor", "local"): ({}, {}),
        ("executor", "ray"): ({}, {"address": "10.0.0.5:6379", "num_cpus_per_cloak": 2.0, "num_gpus_per_cloak": 1.0,
                                   "num_cpus_per_cell": 0.5, "num_gpus_per_cell": 0.5, "max_retries": 0,
                                   "lost_after": 30.0}),
    }


# fawkes's three cloakers share one registry name; the spec's impl= and variant= pick one
ROUTES = {"fawkes": {"impl": "builtin"}, "fawkes v0.3": {"impl": "builtin", "variant": "v0.3"},
          "fawkes official": {"impl": "official"}}
BUILDERS = {"cloaker": build_cloaker, "tracker": build_tracker,
            "countermeasure": lambda text: build_countermeasures(text)[0], "cloak detector": build_cloak_detector,
            "face detector": build_face_detector, "extractor": extractor_spec, "executor": build_executor}


def build(kind: str, plugin: str, options: dict):
    """Build through the registry, from a spec string the way a user writes one."""
    name = "fawkes" if plugin in ROUTES else plugin
    return BUILDERS[kind](format_spec(name, {**ROUTES.get(plugin, {}), **options}))


REGISTERED = ([("cloaker", n) for n in BUILT_IN if n != "fawkes"] + [("cloaker", n) for n in ROUTES]
              + [("tracker", n) for n in TRACKERS] + [("countermeasure", n) for n in {**TRANSFORMS, **ADAPTIVE}]
              + [("cloak detector", n) for n in CLOAK_DETECTORS] + [("face detector", n) for n in FACE_DETECTORS]
              + [("extractor", n) for n in extractor_registry()] + [("executor", n) for n in EXECUTORS])


@pytest.fixture(autouse=True)
def stand_in_on_path(files, monkeypatch):
    monkeypatch.setenv("PATH", f"{files['bin']}{os.pathsep}{os.environ['PATH']}")


def test_every_registered_plugin_is_covered(files):
    assert sorted(REGISTERED) == sorted(cases(files))


@pytest.mark.parametrize("kind, plugin", REGISTERED, ids=[f"{k}-{p}" for k, p in REGISTERED])
def test_every_option_round_trips_and_tells_plugins_apart(kind, plugin, files):
    required, varied = cases(files)[(kind, plugin)]
    plugin_object = build(kind, plugin, required)
    defaults = plugin_object.params()
    assert set(defaults) == set({**required, **varied}), "every constructor option must be listed in cases()"
    assert repr(plugin_object).startswith(type(plugin_object).__name__ + "(")

    changed = build(kind, plugin, {**required, **varied})
    assert changed.params() == {**defaults, **varied}  # the constructor stores what it was given, unchanged
    for text in (changed.spec, format_spec(changed.name, {**changed.routing, **changed.params()})):
        rebuilt = BUILDERS[kind](text)
        assert type(rebuilt) is type(changed) and rebuilt.params() == changed.params(), text

    for key, value in varied.items():
        one = build(kind, plugin, {**required, key: value})
        assert one.label != plugin_object.label, f"{key}={value!r} does not change the label"
        if key in one.placement:  # where it runs, not what it computes: the cached result is the same
            assert one.cache_id == plugin_object.cache_id, f"{key}={value!r} changes the cache key"
        else:
            assert one.cache_id != plugin_object.cache_id, f"{key}={value!r} does not change the cache key"


def test_old_option_names_fail_with_the_new_name():
    with pytest.raises(ValueError, match="detector= is now called face_detector="):
        build_tracker("faiss:detector=mtcnn")
    with pytest.raises(ValueError, match="detector= is now called face_detector="):
        build_cloaker("fawkes:impl=builtin,detector=mtcnn")
    with pytest.raises(ValueError, match="detector= is now called cloak_detector="):
        build_countermeasures("detect-and-drop:detector=2-means")


def test_the_targeted_and_official_cloakers_are_reached_by_their_routing():
    assert isinstance(build_cloaker("fawkes:variant=v0.3,impl=builtin"), FawkesTargetedCloak)
    assert isinstance(build_cloaker("fawkes:impl=official"), OfficialFawkes)
    assert build_cloaker("fawkes:variant=v0.3,impl=builtin").spec == "fawkes:impl=builtin,variant=v0.3"
