"""`audit verify` on real LFW photos: the verdict for uncloaked "cloaks", folds, and the clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from audit.cli import main
from audit.history import History
from audit.plan import VerifyPlan
from audit.records import CellResult
from audit.verdicts import tracker_verdict
from audit.verify import MIN_PHOTOS, combine_folds, person_folds, verify_person
from reports.verify import render_verify_markdown
from tests.builders import cell, user_row
from trackers.linear_probe import LinearProbeTracker


def verify_plan(tmp_path, originals, cloaked, **options) -> VerifyPlan:
    """A verify plan over a test's folders, its finished cells kept in the test's own folder."""
    return VerifyPlan(originals=originals, cloaked=cloaked, out=tmp_path / "verify", **options)

def person_folder(small_lfw: Path, tmp_path: Path, n: int, identity_index: int = 0) -> tuple[Path, Path]:
    """n real photos of one crowd identity as the person's originals, and unmodified copies as "cloaked"."""
    identity = sorted(d for d in small_lfw.iterdir())[identity_index]
    originals, copies = tmp_path / "originals", tmp_path / "posted"
    originals.mkdir()
    copies.mkdir()
    for photo in sorted(identity.glob("*.jpg"))[:n]:
        shutil.copyfile(photo, originals / photo.name)
        shutil.copyfile(photo, copies / photo.name)
    return originals, copies


def blank(path: Path) -> None:
    Image.fromarray(np.full((160, 160, 3), 128, np.uint8)).save(path)


def test_unmodified_copies_are_not_protected(small_lfw, tmp_path):
    originals, copies = person_folder(small_lfw, tmp_path, 10)
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["verify", "--original", str(originals), "--cloaked", str(copies),
                                       "--crowd", str(small_lfw), "--crowd-min-photos", "10",
                                       "--crowd-max-photos", "12", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "verify.json").read_text())
    assert record["verdict"] == "NOT PROTECTED"
    # by default, faiss and linear-probe on every face model this machine has: each finds the person
    assert record["verdict_by_model"] == dict.fromkeys(["dlib-resnet", "mobilefacenet", "faceres"], "NOT PROTECTED")
    assert record["models_missing"] == []
    assert {r["tracker"] for r in record["results"]} == {f"{t}:extractor={m}" for t in ("faiss", "linear-probe")
                                                        for m in ("dlib-resnet", "mobilefacenet", "faceres")}
    for r in record["results"]:
        assert r["tries"] == 10 and r["protection"]["rate"] <= 0.2 and r["verdict"] == "NOT PROTECTED", r["tracker"]
        assert r["transfer"] and r["cloak_extractors"] == []  # the person's cloaker and its models are unknown
    # the person is an LFW identity of the crowd: left out, or the tracker would find that name instead
    identity = sorted(small_lfw.iterdir())[0].name
    assert record["crowd"]["excluded"] == [identity] and record["crowd"]["n_identities"] == 7
    assert record["person"]["identical_copies"] == 10
    assert "NOT PROTECTED" in result.output and "found you in" in result.output
    assert "carry no cloak" in (out / "verify.md").read_text()
    # the person's own copies are measured like any cloak: LPIPS too (none here: they are the originals)
    assert record["perturbation"]["lpips_mean"] == 0.0 and "LPIPS mean 0.0000" in (out / "verify.md").read_text()
    with History() as history:
        entry = history.entries(1)[0]
    assert entry.kind == "verify" and entry.headline.startswith("NOT PROTECTED")
    shown = CliRunner().invoke(main, ["history", "show", str(entry.id)])
    assert shown.exit_code == 0 and "Does this cloak protect me?" in shown.output


def test_without_the_modern_models_the_verdict_says_what_it_covered(small_lfw, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIT_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setenv("AUDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm to fetch them with
    originals, copies = person_folder(small_lfw, tmp_path, 5)
    record = verify_person(verify_plan(tmp_path, originals, copies, crowd=str(small_lfw), crowd_min_photos=10,
                                       crowd_max_photos=10))
    assert {r.tracker_extractor for r in record.results} == {"dlib-resnet"}
    assert [m.model for m in record.models_missing] == ["mobilefacenet", "faceres"]
    text = render_verify_markdown(record)
    assert "covered only dlib-resnet; mobilefacenet, faceres could not be loaded" in text
    assert "npm is not installed" in text and "AUDIT_MODELS" in text


def test_each_photo_is_queried_in_exactly_one_fold(tmp_path):
    photos = [tmp_path / f"{i}.jpg" for i in range(12)]
    folds = person_folds(photos, 5, seed=0)
    assert len(folds) == 5 and sorted(p for fold in folds for p in fold) == sorted(photos)
    assert folds == person_folds(photos, 5, seed=0) and folds != person_folds(photos, 5, seed=1)
    assert len(person_folds(photos[:3], 5, seed=0)) == 3  # never an empty fold


def fold_result(n: int, hidden: int, control_hidden: int) -> CellResult:
    return cell(rows=(user_row("you", n, hidden, control_hidden),), tracker_extractor="dlib-resnet", transfer=True)


@pytest.mark.parametrize("hidden, control_hidden, verdict", [
    (2, 0, "NOT PROTECTED"), (9, 0, "PARTLY PROTECTED"), (18, 0, "PROTECTED"), (18, 9, "PARTLY PROTECTED"),
    (18, 11, "INCONCLUSIVE")])
def test_folds_add_up_to_one_verdict(hidden, control_hidden, verdict):
    halves = [fold_result(10, hidden // 2, control_hidden // 2),
              fold_result(10, hidden - hidden // 2, control_hidden - control_hidden // 2)]
    result = combine_folds("faiss", "none", halves)
    assert result.tries == 20 and result.found == 20 - hidden and result.control_found == 20 - control_hidden
    assert result.protection.rate == hidden / 20
    assert result.verdict == verdict == tracker_verdict(20, result.protection, result.control)
    assert (result.tracker_extractor, result.transfer) == ("dlib-resnet", True)
    assert result.normal_accuracy.rate == 0.99 and result.normal_accuracy.n_photos == 400
    lo, hi = result.protection.ci95
    assert lo <= hidden / 20 <= hi


def test_too_few_photos_says_how_many_are_needed(small_lfw, tmp_path):
    originals, copies = person_folder(small_lfw, tmp_path, MIN_PHOTOS - 1)
    with pytest.raises(ValueError, match=f"holds {MIN_PHOTOS - 1} photo.*at least {MIN_PHOTOS} are needed"):
        verify_person(verify_plan(tmp_path, originals, copies, crowd=str(small_lfw)))


def test_names_that_do_not_match_are_an_error(small_lfw, tmp_path):
    originals, copies = person_folder(small_lfw, tmp_path, 6)
    first = sorted(copies.iterdir())[0]
    first.rename(copies / "holiday.jpg")
    with pytest.raises(FileNotFoundError, match=f"no cloaked copy of {first.name}"):
        verify_person(verify_plan(tmp_path, originals, copies, crowd=str(small_lfw)))
    (copies / "holiday.jpg").rename(first)
    blank(copies / "extra.png")
    with pytest.raises(ValueError, match="extra.png matches none of the originals"):
        verify_person(verify_plan(tmp_path, originals, copies, crowd=str(small_lfw)))


def test_photos_without_a_face_are_an_error_or_a_skip(small_lfw, tmp_path):
    faceless, copies = tmp_path / "faceless", tmp_path / "faceless-posted"
    faceless.mkdir()
    copies.mkdir()
    for i in range(MIN_PHOTOS):
        blank(faceless / f"wall{i}.png")
        blank(copies / f"wall{i}.png")
    result = CliRunner().invoke(main, ["verify", "--original", str(faceless), "--cloaked", str(copies),
                                       "--crowd", str(small_lfw), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "no face was found in any photo" in result.output

    originals, posted = person_folder(small_lfw, tmp_path, MIN_PHOTOS)
    blank(originals / "wall.png")
    blank(posted / "wall.png")
    (originals / sorted(originals.glob("*.jpg"))[0].name).unlink()
    (posted / sorted(posted.glob("*.jpg"))[0].name).unlink()
    with pytest.raises(ValueError, match=rf"only {MIN_PHOTOS - 1} of {MIN_PHOTOS} photos show a face.*wall.png"):
        verify_person(verify_plan(tmp_path, originals, posted, crowd=str(small_lfw)))


def test_robust_retraining_needs_the_cloaker_it_imitates(small_lfw, tmp_path):
    originals, copies = person_folder(small_lfw, tmp_path, MIN_PHOTOS)
    with pytest.raises(ValueError, match="name the cloaker you used with --cloaker"):
        verify_person(verify_plan(tmp_path, originals, copies, trackers=("linear-probe",), crowd=str(small_lfw),
                                  countermeasures=("robust-retraining",)))


def test_cloud_trackers_are_refused_before_any_work(small_lfw, tmp_path):
    originals, copies = person_folder(small_lfw, tmp_path, MIN_PHOTOS)
    with pytest.raises(ValueError, match="local trackers only"):
        verify_person(verify_plan(tmp_path, originals, copies, trackers=("rekognition",), crowd=str(small_lfw)))


def test_a_verify_stopped_by_an_error_resumes_with_the_cells_it_finished(small_lfw, tmp_path, monkeypatch):
    """5 folds × (faiss, linear-probe) = 10 cells, in fold order; linear-probe fits twice a cell (the control,
    then the person's tracker), so a 5th fit that fails stops the run after 5 finished cells."""
    originals, copies = person_folder(small_lfw, tmp_path, 5)

    def verify(out: Path):
        return CliRunner().invoke(main, ["verify", "--original", str(originals), "--cloaked", str(copies),
                                         "--crowd", str(small_lfw), "--crowd-min-photos", "10", "--crowd-max-photos",
                                         "12", "--tracker", "faiss", "--tracker", "linear-probe", "--out", str(out)])

    fit, fits = LinearProbeTracker.fit, []

    def failing_fit(self, photos, labels):
        fits.append(1)
        if len(fits) == 5:
            raise RuntimeError("simulated out of memory")
        return fit(self, photos, labels)

    monkeypatch.setattr(LinearProbeTracker, "fit", failing_fit)
    stopped = verify(tmp_path / "stopped")
    assert stopped.exit_code == 1 and "simulated out of memory" in stopped.output
    assert "5 finished cell(s) are kept" in stopped.output and "computes only the rest" in stopped.output
    monkeypatch.setattr(LinearProbeTracker, "fit", fit)
    resumed = verify(tmp_path / "stopped")
    assert resumed.exit_code == 0, resumed.output
    assert "cells: 5 computed, 5 reused" in resumed.output
    uninterrupted = verify(tmp_path / "whole")
    assert "cells: 10 computed, 0 reused" in uninterrupted.output
    record, whole = (json.loads((tmp_path / name / "verify.json").read_text()) for name in ("stopped", "whole"))
    assert record["cells"] == {"total": 10, "reused": 5, "computed": 5}
    assert record["results"] == whole["results"] and record["verdict"] == whole["verdict"] == "NOT PROTECTED"
