"""`audit run` end to end on real LFW photos: the report, determinism, resuming, configuration."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from audit.cli import main
from audit.cloakers.fawkes import FawkesCloak
from audit.datasets.embedded import write_embeddings
from audit.extractors import load_extractor
from audit.extractors.base import Extractor
from audit.face.detection import MtcnnDetector
from audit.plugins import registered

SMALL = ["--users", "2", "--min-photos", "10", "--max-photos", "12", "--seed", "1"]


def run(small_lfw, out, *extra):
    result = CliRunner().invoke(main, ["run", "--dataset", str(small_lfw), "--out", str(out), *SMALL, *extra])
    return result


def test_report_has_the_documented_fields_and_is_deterministic(small_lfw, tmp_path):
    args = ["--cloaker", "noise:budget=dssim:0.005", "--tracker", "faiss", "--tracker", "linear-probe"]
    first = run(small_lfw, tmp_path / "a", *args)
    assert first.exit_code == 0, first.output
    second = run(small_lfw, tmp_path / "b", *args)
    assert second.exit_code == 0, second.output
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["schema_version"] == 2 and report["kind"] == "run"
    assert report["cloaker"] == {"name": "noise", "spec": "noise:budget=dssim:0.005", "implementation": "built-in",
                                 "params": {"budget": "dssim:0.005", "seed": 0, "output_format": "png", "quality": 95},
                                 "cloak_extractors": []}
    assert report["perturbation"]["dssim_mean"] == pytest.approx(0.005, abs=0.0005)
    assert {"dssim_max", "psnr_mean", "seconds_per_photo"} <= set(report["perturbation"])
    assert 0 < report["perturbation"]["lpips_mean"] <= report["perturbation"]["lpips_max"] < 0.5
    assert "LPIPS mean" in (tmp_path / "a" / "report.md").read_text()
    assert [r["tracker"] for r in report["results"]] == ["faiss", "linear-probe"]
    for result in report["results"]:
        assert result["countermeasure"] == "none" and result["leak_ratio"] == 0.0
        for key in ("protection", "control", "normal_accuracy"):
            assert 0 <= result[key]["rate"] <= 1 and len(result[key]["ci95"]) == 2
        assert result["protection"]["n_users"] == 2
        assert len(result["per_user"]) == 2
        assert result["normal_accuracy"]["rate"] >= 0.9  # a real tracker on real faces
        # noise was optimised against no model: every cell is a transfer cell
        assert (result["tracker_extractor"], result["cloak_extractors"], result["transfer"]) == ("dlib-resnet", [], True)
    assert "rank_k" in report["results"][0]
    assert {"packages", "seed", "command_line"} <= set(report["environment"])
    assert report["results"] == json.loads((tmp_path / "b" / "report.json").read_text())["results"]
    assert "| `faiss` |" in (tmp_path / "a" / "report.md").read_text()


def test_an_interrupted_run_resumes_without_redoing_work(small_lfw, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_CACHE", str(tmp_path / "cache"))  # other tests cloak these users with this cloaker
    args = ["--cloaker", "fawkes:mode=low,max_step=2", "--tracker", "faiss"]
    real_cloak, real_embed = FawkesCloak.cloak_images, Extractor.embed
    cloaked, embedded = [], []

    def interrupted(self, images, keys):
        if cloaked:
            raise KeyboardInterrupt  # killed while cloaking the second user
        cloaked.append(len(images))
        return real_cloak(self, images, keys)

    monkeypatch.setattr(FawkesCloak, "cloak_images", interrupted)
    assert run(small_lfw, tmp_path / "killed", *args).exit_code != 0
    first_user = cloaked[0]

    def counting_cloak(self, images, keys):
        cloaked.append(len(images))
        return real_cloak(self, images, keys)

    def counting_embed(self, chips, batch_size=64):
        embedded.append(len(chips))
        return real_embed(self, chips, batch_size)

    monkeypatch.setattr(FawkesCloak, "cloak_images", counting_cloak)
    monkeypatch.setattr(Extractor, "embed", counting_embed)
    cloaked.clear()
    resumed = run(small_lfw, tmp_path / "resumed", *args)
    assert resumed.exit_code == 0, resumed.output
    report = json.loads((tmp_path / "resumed" / "report.json").read_text())
    assert sum(cloaked) == report["perturbation"]["n_photos"] - first_user  # only the second user's
    cloaked.clear()
    embedded.clear()
    detected = []
    real_detect = MtcnnDetector.find_many
    monkeypatch.setattr(MtcnnDetector, "find_many",
                        lambda self, images: detected.extend(images) or real_detect(self, images))
    again = run(small_lfw, tmp_path / "again", *args)
    assert again.exit_code == 0, again.output
    assert cloaked == [] and sum(embedded) == 0 and detected == []
    assert json.loads((tmp_path / "again" / "report.json").read_text())["results"] == report["results"]
    identical = run(small_lfw, tmp_path / "again", *args)  # the same command again: nothing is computed
    assert identical.exit_code == 0 and "0 computed, 1 reused" in identical.output
    assert cloaked == [] and sum(embedded) == 0 and detected == []


def test_config_file_and_command_line_precedence(small_lfw, tmp_path):
    config = tmp_path / "audit.toml"
    config.write_text('[run]\ncloaker = "none"\ntrackers = ["faiss:k=3"]\nusers = 1\nrank = 2\nisolation = "cohort"\n')
    result = run(small_lfw, tmp_path / "out", "--config", str(config), "--users", "2")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["cloaker"]["name"] == "none" and report["results"][0]["tracker"] == "faiss:k=3"
    assert report["results"][0]["rank_k"]["k"] == 2
    assert len(report["protocol"]["users"]) == 2  # the command line wins
    assert report["results"][0]["isolation"] == "cohort"
    assert report["results"][0]["protection"]["rate"] <= 0.2  # uncloaked users are recognised
    config.write_text('[run]\nclocker = "none"\n')
    bad = run(small_lfw, tmp_path / "out", "--config", str(config))
    assert bad.exit_code != 0 and "unknown option 'clocker'" in bad.output


@pytest.mark.parametrize("args, message", [
    (["--cloaker", "fawks"], "unknown cloaker"),
    (["--tracker", "faiss:index=kd"], "index='kd'"),
    (["--user", "Nobody_At_All"], "not an identity"),
    (["--cloaker", "fawkes-v0.3"], "public identities outside"),  # all 8 are labels
])
def test_bad_run_options_fail_before_any_work(small_lfw, tmp_path, args, message):
    result = run(small_lfw, tmp_path / "out", *args)
    assert result.exit_code != 0 and message in result.output
    assert not (tmp_path / "out").exists()


def test_fawkes_v03_targets_a_public_identity_outside_the_label_set(small_lfw, tmp_path):
    args = ["--cloaker", "fawkes-v0.3:max_step=2,target_photos=3", "--labels", "4",
            "--tracker", "faiss", "--tracker", "faiss:extractor=mobilefacenet"]
    result = run(small_lfw, tmp_path / "out", *args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    targets = {user: note["target"] for user, note in report["cloaker"]["per_user"].items()}
    assert set(targets) == set(report["protocol"]["users"])
    identities = {folder.name for folder in small_lfw.iterdir()}
    assert all(t in identities and t not in report["protocol"]["labels"] for t in targets.values())
    assert report["cloaker"]["spec"].startswith("fawkes-v0.3")
    # the cloak was optimised on dlib-resnet: a self-check there, a transfer test on MobileFaceNet
    assert [(r["tracker_extractor"], r["transfer"]) for r in report["results"]] == [("dlib-resnet", False),
                                                                                     ("mobilefacenet", True)]
    assert "mobilefacenet (transfer)" in (tmp_path / "out" / "report.md").read_text()
    assert f"Cloak target for {min(targets)}: {targets[min(targets)]}." in (tmp_path / "out" / "report.md").read_text()


def test_countermeasure_sweeps_give_one_result_each_beside_none(small_lfw, tmp_path):
    args = ["--cloaker", "none", "--tracker", "faiss", "--countermeasure", "blur:kernel=3,7",
            "--countermeasure", "jpeg:quality=10,at=[train,test]", "--countermeasure", "augment",
            "--countermeasure", "blur:kernel=7,sigma=0"]  # the same as kernel=7: one cell, not two
    result = run(small_lfw, tmp_path / "out", *args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    names = [r["countermeasure"] for r in report["results"]]
    assert names == ["none", "blur:kernel=3", "blur:kernel=7", "jpeg:quality=10,at=[train,test]", "augment"]
    for entry in report["results"]:
        assert entry["normal_accuracy"]["n_photos"] > 0 and entry["protection"]["n_users"] == 2
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| `faiss` | dlib-resnet (transfer) | jpeg:quality=10,at=[train,test] |" in markdown  # `none` saw no model
    assert "countermeasure" in report["timings"]


def test_leak_ratio_and_label_sweeps_give_one_result_per_scenario(small_lfw, tmp_path):
    args = ["--cloaker", "noise:budget=dssim:0.005", "--tracker", "faiss", "--leak-ratio", "0,0.5", "--labels", "4,all",
            "--cloak-detector", "2-means"]
    result = run(small_lfw, tmp_path / "out", *args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [(r["leak_ratio"], r["n_labels"]) for r in report["results"]] == [(0.0, 4), (0.0, 8), (0.5, 4), (0.5, 8)]
    # 2 users × 8 training photos (70% of 12); half of them leak at 0.5
    assert [s["n_leaked_photos"] for s in report["protocol"]["sweep"]] == [0, 0, 8, 8]
    # the cost covers each distinct cloaked photo once: the leak-0 cloaks include the leak-0.5 ones
    assert report["perturbation"]["n_photos"] == 16
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| leak ratio | labels |" in markdown
    detection = report["detection"]
    assert [(d["cloak_detector"], d["leak_ratio"], d["n_labels"]) for d in detection] == [
        ("2-means", 0.0, 4), ("2-means", 0.0, 8), ("2-means", 0.5, 4), ("2-means", 0.5, 8)]
    assert all(d["n_protected"] == 2 and len(d["per_class"]) == d["n_labels"] for d in detection)
    assert 0 <= detection[3]["auc"] <= 1 and "## Cloak detection" in markdown
    bad = run(small_lfw, tmp_path / "bad", "--leak-ratio", "0,lots")
    assert bad.exit_code != 0 and "--leak-ratio: 'lots' is not a float" in bad.output


def test_list_cloakers_and_trackers():
    cloakers = CliRunner().invoke(main, ["list", "cloakers"])
    trackers = CliRunner().invoke(main, ["list", "trackers"])
    assert all(name in cloakers.output for name in ("none", "noise", "fawkes", "command", "precomputed"))
    assert "faiss" in trackers.output and "linear-probe" in trackers.output
    countermeasures = CliRunner().invoke(main, ["list", "countermeasures"])
    assert all(name in countermeasures.output for name in ("blur", "noise", "jpeg", "augment", "detect-and-drop",
                                                            "robust-retraining"))
    assert "scratch" in trackers.output


@pytest.mark.parametrize("spec", sorted(registered("countermeasure")))
def test_every_registered_countermeasure_runs_beside_none(spec, small_lfw, tmp_path):
    small = {"robust-retraining": "robust-retraining:public_users=2,photos=2,epochs=1", "augment": "augment:copies=1"}
    args = ["--cloaker", "noise:budget=dssim:0.005", "--tracker", "linear-probe", "--labels", "4",
            "--countermeasure", small.get(spec, spec)]
    result = run(small_lfw, tmp_path / "out", *args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    names = [r["countermeasure"] for r in report["results"]]
    assert names[0] == "none" and names[-1].startswith(spec)
    for entry in report["results"]:
        assert entry["protection"]["n_users"] == 2 and entry["normal_accuracy"]["rate"] >= 0.7
    markdown = (tmp_path / "out" / "report.md").read_text()
    if spec == "detect-and-drop":
        assert set(report["results"][-1]["dropped"]) == {"control", *report["protocol"]["users"]}
        assert "## Photos dropped by adaptive trackers" in markdown
    if spec == "robust-retraining":
        notes = report["results"][-1]["countermeasure_notes"]
        assert notes["public_identities"] == 2 and notes["pairs"] == 4
        assert notes["extractor"].startswith("torchscript:")
        assert f"{names[-1]} for `linear-probe`: extractor {notes['extractor']}" in markdown
        assert report["results"][-1]["tracker_params"]["extractor"] == notes["extractor"]
        # the oblivious tracker: a model made later than the cloaks, given to any tracker by name
        later = run(small_lfw, tmp_path / "later", "--cloaker", "noise:budget=dssim:0.005", "--labels", "4",
                    "--tracker", f"faiss:extractor={notes['extractor']}")
        assert later.exit_code == 0, later.output
        (entry,) = json.loads((tmp_path / "later" / "report.json").read_text())["results"]
        assert entry["tracker_params"]["extractor"] == notes["extractor"]
        assert entry["normal_accuracy"]["rate"] >= 0.7


def test_robust_retraining_fine_tunes_every_built_in_model(small_lfw, tmp_path):
    """The imported graphs (MobileFaceNet, FaceRes on detector crops) once could not be fine-tuned or saved."""
    args = ["--cloaker", "noise:budget=dssim:0.005", "--tracker", "linear-probe:extractor=mobilefacenet",
            "--tracker", "linear-probe:extractor=faceres", "--labels", "4", "--countermeasure", "robust-retraining:public_users=2,photos=2,epochs=1"]
    result = run(small_lfw, tmp_path / "out", *args)
    assert result.exit_code == 0, result.output
    retrained = [r for r in json.loads((tmp_path / "out" / "report.json").read_text())["results"]
                 if r["countermeasure"].startswith("robust-retraining")]
    assert sorted(r["countermeasure_notes"]["base_extractor"] for r in retrained) == ["faceres", "mobilefacenet"]
    for entry in retrained:
        assert entry["countermeasure_notes"]["pairs"] == 4 and entry["normal_accuracy"]["rate"] >= 0.7
    faceres = next(r for r in retrained if r["countermeasure_notes"]["base_extractor"] == "faceres")
    assert load_extractor(faceres["countermeasure_notes"]["extractor"]).box_margin == 0.1  # crops, as FaceRes reads


def test_robust_retraining_needs_a_tracker_with_an_extractor(small_lfw, tmp_path):
    result = run(small_lfw, tmp_path / "out", "--cloaker", "none", "--tracker", "scratch", "--labels", "4",
                 "--countermeasure", "robust-retraining")
    assert result.exit_code != 0 and "tracker 'scratch' has none" in result.output


@pytest.mark.parametrize("args, error", [
    (["--tracker", "faiss:extractor=nope"], "unknown extractor 'nope'"),
    (["--tracker", "faiss:extractor=[onnx:/no/such.onnx,size=112]"], "model file /no/such.onnx does not exist"),
    (["--tracker", "linear-probe:face_detector=[mtcnn:min_face_size=4]"], "min_face_size=4 must be at least 12"),
    (["--tracker", "faiss:k=0"], "k must be at least 1"),
    (["--tracker", "faiss:face_detector=haar"], "unknown face detector 'haar'"),
    (["--cloaker", "fawkes:extractor=nope"], "unknown extractor 'nope'"),
    (["--countermeasure", "detect-and-drop:extractor=[dlib-resnet:weights=/no/such.dat]"], "does not exist"),
    (["--countermeasure", "robust-retraining:lr=-1"], "lr=-1.0 must be positive"),
    (["--cloak-detector", "2-means:extractor=nope"], "unknown extractor 'nope'"),
])
def test_every_option_is_checked_before_any_photo_is_read(small_lfw, tmp_path, monkeypatch, args, error):
    """A typo in a nested option fails at once, not after cloaking (the cache stays empty)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("AUDIT_CACHE", str(cache))
    result = run(small_lfw, tmp_path / "out", "--cloaker", "noise:budget=dssim:0.005", *args)
    assert result.exit_code == 1 and error in result.output, result.output
    assert list(cache.rglob("*")) == [] and "cloaking" not in result.output


def test_old_option_spellings_name_the_new_ones(small_lfw, tmp_path):
    result = run(small_lfw, tmp_path / "out", "--detector", "2-means")
    assert result.exit_code == 2 and "--detector is now --cloak-detector" in result.output
    config = tmp_path / "audit.toml"
    config.write_text('[run]\ndetector = ["2-means"]\n')
    result = run(small_lfw, tmp_path / "out", "--config", str(config))
    assert result.exit_code == 1 and "'detector' is now 'cloak_detector'" in result.output
    listed = CliRunner().invoke(main, ["list", "detectors"])
    assert listed.exit_code == 2 and "face-detectors" in listed.output and "cloak-detectors" in listed.output


def test_cloak_detectors_score_each_trackers_own_model(small_lfw, tmp_path):
    from audit.extractors.user_models import save_torchscript

    extractor = load_extractor("dlib-resnet")
    model = tmp_path / "other.pt"
    save_torchscript(extractor.module, model, extractor.input_size, "dlib", "0..255")
    result = run(small_lfw, tmp_path / "out", "--cloaker", "noise:budget=dssim:0.005", "--labels", "4", "--tracker", "faiss",
                 "--tracker", f"faiss:extractor=torchscript:{model}", "--cloak-detector", "2-means",
                 "--cloak-detector", "target-closeness:extractor=dlib-resnet")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [(d["cloak_detector"], d["extractor"]) for d in report["detection"]] == [
        ("2-means", "dlib-resnet"), ("2-means", f"torchscript:path={model}"),
        ("target-closeness:extractor=dlib-resnet", "dlib-resnet")]
    assert f"| `2-means` | `torchscript:path={model}` |" in (tmp_path / "out" / "report.md").read_text()


def test_the_run_command_gives_the_process_its_sigterm_handler_back(small_lfw, tmp_path):
    """`audit run` turns SIGTERM into a clean stop only while it runs: afterwards the process (a test
    session, a notebook) and the children it forks are terminated as before."""
    import signal

    before = signal.getsignal(signal.SIGTERM)
    result = run(small_lfw, tmp_path / "out", "--tracker", "faiss:extractor=nope")
    assert result.exit_code == 1
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_seed_sweep_reports_each_seed_and_pools_them(small_lfw, tmp_path):
    args = ["--cloaker", "noise:budget=dssim:0.005", "--tracker", "faiss", "--seed", "0,1,2", "--users", "1"]
    result = run(small_lfw, tmp_path, *args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["seed"] for r in report["results"]] == [0, 1, 2]
    [pooled] = report["pooled"]
    assert pooled["seeds"] == [0, 1, 2] and pooled["protection"]["over_seeds"]["n_seeds"] == 3
    n_test = sum(u["n_test"] for r in report["results"] for u in r["per_user"])
    assert pooled["protection"]["n_photos"] == n_test
    low, high = pooled["protection"]["ci95"]
    assert low <= pooled["protection"]["rate"] <= high and high > low
    assert [s["seed"] for s in report["protocol"]["sweep"]] == [0, 1, 2]
    assert "Pooled over seeds 0, 1, 2" in (tmp_path / "report.md").read_text()
    assert "pooled over seeds" in result.output
    again = run(small_lfw, tmp_path, *args)
    assert again.exit_code == 0 and "0 computed, 3 reused" in again.output


def test_distractors_join_the_search_gallery_and_sweep_its_size(small_lfw, tmp_path):
    args = ["--cloaker", "fawkes:mode=low,max_step=2", "--tracker", "faiss",
            "--distractors", "lfw-singletons", "--distractor-count", "0,300"]
    result = run(small_lfw, tmp_path, *args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["protocol"]["distractors"] == "lfw-singletons"
    assert [s["n_distractors"] for s in report["protocol"]["sweep"]] == [0, 300]
    without, within = report["results"]
    assert (without["n_distractors"], within["n_distractors"]) == (0, 300)
    # a nearest-neighbour search can only lose a hit to a new face in its gallery, never gain one
    for alone, crowded in zip(without["per_user"], within["per_user"]):
        assert crowded["hidden"] >= alone["hidden"] and crowded["control_hidden"] >= alone["control_hidden"]
    assert within["normal_accuracy"]["rate"] <= without["normal_accuracy"]["rate"]
    assert "distractors" in (tmp_path / "report.md").read_text()


def test_precomputed_distractor_embeddings_act_as_their_photos_do(small_lfw, tmp_path):
    """`audit embed` of a distractor folder, given as --distractors, changes results exactly as the folder does.
    The strangers here are doubles: every photo of the data set again, under a stranger's name, so each test
    photo's nearest face is a stranger and the control tracker misses every one."""
    doubles = tmp_path / "doubles"
    for person in small_lfw.iterdir():
        (doubles / f"double_of_{person.name}").mkdir(parents=True)
        for photo in person.iterdir():
            (doubles / f"double_of_{person.name}" / photo.name).symlink_to(photo.resolve())
    embedded = CliRunner().invoke(main, ["embed", str(doubles), "--out", str(tmp_path / "doubles.npz")])
    assert embedded.exit_code == 0, embedded.output
    args = ["--cloaker", "noise:budget=dssim:0.005", "--tracker", "faiss:k=1"]
    reports = []
    for source in (doubles, tmp_path / "doubles.npz"):
        out = tmp_path / f"run-{source.suffix or 'folder'}"
        result = run(small_lfw, out, *args, "--distractors", str(source))
        assert result.exit_code == 0, result.output
        reports.append(json.loads((out / "report.json").read_text()))
    from_photos, from_file = ([{k: v for k, v in r.items() if k != "timings"} for r in report["results"]]
                              for report in reports)
    assert from_photos == from_file
    [cell] = from_file
    assert cell["n_distractors"] == 8 and cell["control"]["rate"] == 1.0 and cell["normal_accuracy"]["rate"] == 0.0
    assert reports[1]["protocol"]["distractors"] == str(tmp_path / "doubles.npz")


def test_precomputed_distractors_must_fit_every_tracker_and_countermeasure(small_lfw, tmp_path):
    write_embeddings(tmp_path / "d.npz", np.zeros((3, 128)), ["a.jpg", "b.jpg", "c.jpg"], ["a", "b", "c"], [],
                     "dlib-resnet", "dlib-resnet|weights|150", "mtcnn|dlib-resnet")
    base = ["--cloaker", "noise:budget=dssim:0.005", "--distractors", str(tmp_path / "d.npz")]
    other = run(small_lfw, tmp_path / "a", *base, "--tracker", "faiss", "--tracker", "faiss:extractor=mobilefacenet")
    assert other.exit_code != 0
    assert "holds dlib-resnet embeddings; tracker faiss:extractor=mobilefacenet embeds with mobilefacenet" \
        in other.output, other.output
    retrained = run(small_lfw, tmp_path / "b", *base, "--tracker", "faiss", "--countermeasure", "robust-retraining")
    assert retrained.exit_code != 0 and "robust-retraining changes the tracker's extractor" in retrained.output


@pytest.mark.parametrize("args, message", [
    (["--tracker", "linear-probe", "--distractors", "lfw-singletons"], "run those trackers without --distractors"),
    (["--distractor-count", "10"], "--distractor-count needs --distractors"),
    (["--distractors", "lfw-singletons", "--distractor-count", "5000"], "lfw-singletons has 4069 identities"),
])
def test_distractor_options_are_checked(small_lfw, tmp_path, args, message):
    result = run(small_lfw, tmp_path, "--cloaker", "noise:budget=dssim:0.005", *args)
    assert result.exit_code != 0 and message in result.output, result.output


def test_a_broken_link_in_the_data_set_is_a_recorded_skip(small_lfw, tmp_path):
    dataset = tmp_path / "faces"
    shutil.copytree(small_lfw, dataset, symlinks=True)
    person = sorted(dataset.iterdir())[0]
    broken = person / f"{person.name}_9999.jpg"
    broken.symlink_to(tmp_path / "deleted.jpg")
    result = CliRunner().invoke(main, ["run", "--dataset", str(dataset), "--out", str(tmp_path / "out"), *SMALL,
                                       "--cloaker", "none", "--tracker", "faiss"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {"path": str(broken), "reason": f"broken link → {tmp_path / 'deleted.jpg'}", "stage": "dataset"} \
        in report["skipped"]


def test_a_run_builds_each_tracker_once_and_once_more_per_cell(small_lfw, tmp_path, monkeypatch):
    """The spec is parsed once, at the edge; each cell fits one clone of the tracker on every training set (the
    control and each protected user's), where it used to rebuild the tracker from its spec for every fit."""
    from trackers.faiss_search import FaissTracker

    built = []
    real_init = FaissTracker.__init__

    def counted(self, *args, **kwargs):
        built.append(kwargs.get("extractor"))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(FaissTracker, "__init__", counted)
    result = run(small_lfw, tmp_path, "--cloaker", "none", "--tracker", "faiss", "--countermeasure", "blur:kernel=3")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    cells = len(report["results"])
    assert cells == 2 and len(report["protocol"]["users"]) == 2  # 3 fits per cell: the control and two users
    assert len(built) == 1 + cells
