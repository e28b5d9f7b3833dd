"""`audit cloak`: a folder cloaked with a registered cloaker, names kept, cost printed."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from click.testing import CliRunner

from audit.cli import main
from audit.images import read_image


def test_cloak_keeps_relative_names_and_prints_the_cost(small_lfw, tmp_path):
    source = tmp_path / "photos"
    for identity in sorted(small_lfw.iterdir())[:2]:
        (source / identity.name).mkdir(parents=True)
        for photo in sorted(identity.glob("*.jpg"))[:2]:
            shutil.copyfile(photo, source / identity.name / photo.name)
    (source / "notes.txt").write_text("not a photo")
    out = tmp_path / "cloaked"
    result = CliRunner().invoke(main, ["cloak", str(source), "--cloaker", "noise:budget=dssim:0.003", "--out", str(out)])
    assert result.exit_code == 0, result.output
    originals = sorted(p.relative_to(source) for p in source.rglob("*.jpg"))
    written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert written == [p.with_suffix(".png") for p in originals]
    for relative in originals:
        before, after = read_image(source / relative), read_image(out / relative.with_suffix(".png"))
        assert before.shape == after.shape and (before != after).any()
    dssim = float(re.search(r"DSSIM mean ([0-9.]+)", result.output).group(1))
    assert 0.002 < dssim < 0.004 and "cloaked 4 photos" in result.output
    assert float(re.search(r"LPIPS mean ([0-9.]+)", result.output).group(1)) > 0


def test_cloak_refuses_an_output_inside_the_input(tmp_path):
    (tmp_path / "a").mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64)).save(tmp_path / "a" / "x.png")
    result = CliRunner().invoke(main, ["cloak", str(tmp_path), "--cloaker", "none", "--out", str(tmp_path / "a" / "o")])
    assert result.exit_code == 1 and "must be outside" in result.output


def test_a_data_set_cloaked_once_is_audited_with_any_seed(small_lfw, tmp_path):
    """`audit cloak DATASET` then `audit run --cloaker precomputed:dir=…`: a superset of copies is the natural input."""
    out = tmp_path / "cloaked"
    cloak = CliRunner().invoke(main, ["cloak", str(small_lfw), "--cloaker", "noise:budget=dssim:0.003", "--out", str(out)])
    assert cloak.exit_code == 0, cloak.output
    n_copies = len(list(out.rglob("*.png")))
    for seed in ("0", "1"):
        report_dir = tmp_path / f"seed{seed}"
        result = CliRunner().invoke(main, ["run", "--dataset", str(small_lfw), "--cloaker", f"precomputed:dir={out}",
                                           "--users", "2", "--min-photos", "10", "--max-photos", "12", "--seed", seed,
                                           "--out", str(report_dir)])
        assert result.exit_code == 0, result.output
        report = json.loads((report_dir / "report.json").read_text())
        notes = report["cloaker"]["notes"]
        assert notes["copies"] == n_copies and notes["missing"] == 0 and notes["not_in_dataset"] == []
        assert notes["used"] == report["perturbation"]["n_photos"] > 0
        assert notes["unused"] == n_copies - notes["used"]
        assert report["perturbation"]["dssim_mean"] == pytest.approx(0.003, abs=0.0005)
        assert f"{notes['unused']} unused" in (report_dir / "report.md").read_text()


def test_precomputed_with_no_usable_copy_names_the_folder_and_the_rule(small_lfw, tmp_path):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    (empty / "Somebody_Else_0001_cloaked.png").write_bytes(b"")
    result = CliRunner().invoke(main, ["run", "--dataset", str(small_lfw), "--cloaker", f"precomputed:dir={empty}",
                                       "--users", "2", "--min-photos", "10", "--max-photos", "12",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "none of the" in result.output and str(empty) in result.output and "x_cloaked" in result.output
