"""`audit cloak`: a folder cloaked with a registered cloaker, names kept, cost printed."""

from __future__ import annotations

import re
import shutil

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
    result = CliRunner().invoke(main, ["cloak", str(source), "--cloaker", "noise:dssim=0.003", "--out", str(out)])
    assert result.exit_code == 0, result.output
    originals = sorted(p.relative_to(source) for p in source.rglob("*.jpg"))
    written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert written == [p.with_suffix(".png") for p in originals]
    for relative in originals:
        before, after = read_image(source / relative), read_image(out / relative.with_suffix(".png"))
        assert before.shape == after.shape and (before != after).any()
    dssim = float(re.search(r"DSSIM mean ([0-9.]+)", result.output).group(1))
    assert 0.002 < dssim < 0.004 and "cloaked 4 photos" in result.output


def test_cloak_refuses_an_output_inside_the_input(tmp_path):
    (tmp_path / "a").mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64)).save(tmp_path / "a" / "x.png")
    result = CliRunner().invoke(main, ["cloak", str(tmp_path), "--cloaker", "none", "--out", str(tmp_path / "a" / "o")])
    assert result.exit_code == 1 and "must be outside" in result.output
