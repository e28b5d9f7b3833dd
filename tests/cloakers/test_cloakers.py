"""Every registered cloaker on real LFW photos, and each adapter's file contract."""

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import audit.cloakers.store as store_module
from audit.cloakers import build_cloaker
from audit.cloakers.external import OfficialFawkes
from audit.cloakers.feature_space import FrozenModel, chip_footprint
from audit.cloakers.store import CloakStore
from audit.costs import cost_or_reason, kept_cost, measured_cost
from audit.images import read_image
from audit.perceptual import perceptual_cost
from audit.plugins import registered
from audit.records import Skip

# Stand-ins for the official fawkes CLI: same arguments, the output names of v1.0 (x.jpg -> x_cloaked.png)
# and of v0.3.x (x.jpg -> x_high_cloaked.png), written beside the photos as the real tool does.
FAWKES_OUTPUT_NAMES = {"v1.0": "{stem}_cloaked.png", "v0.3": "{stem}_{mode}_cloaked.png"}


def stand_in(version: str) -> str:
    return f"""#!{sys.executable}
import argparse, pathlib
from PIL import Image
parser = argparse.ArgumentParser()
parser.add_argument("-d"); parser.add_argument("--mode"); parser.add_argument("--format")
args = parser.parse_args()
assert args.format == "png" and args.mode in ("min", "low", "mid", "high", "ultra")
for path in sorted(pathlib.Path(args.d).glob("*.jpg")):
    if path.name.startswith("noface"):
        continue  # as if no face were found
    image = Image.open(path).convert("RGB")
    image.putpixel((0, 0), (0, 0, 0))
    image.save(path.with_name({FAWKES_OUTPUT_NAMES[version]!r}.format(stem=path.stem, mode=args.mode)))
"""


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def photos(small_lfw) -> list[Path]:
    return sorted(small_lfw.glob("*/*.jpg"))[:2]


@pytest.fixture
def precomputed_dir(photos, tmp_path) -> Path:
    folder = tmp_path / "precomputed"
    folder.mkdir()
    for photo in photos:
        (folder / f"{photo.stem}_cloaked.png").write_bytes(photo.read_bytes())
    return folder


def spec_for(name: str, tmp_path: Path, precomputed_dir: Path) -> str:
    copy = executable(tmp_path / "copy.py", f"#!{sys.executable}\nimport shutil, sys\n"
                      "shutil.copytree(sys.argv[1], sys.argv[2], dirs_exist_ok=True)\n")
    official = executable(tmp_path / "fawkes", stand_in("v1.0"))
    return {"none": "none", "noise": "noise:budget=dssim:0.01", "fawkes": "fawkes:mode=low,max_step=3",
            "fawkes-v0.3": "fawkes-v0.3:mode=low,max_step=3,candidates=2,min_target_photos=2,target_photos=2",
            "fawkes-official": f"fawkes-official:binary={official}", "lowkey": "lowkey:steps=2",
            "command": f"command:template={copy} {{input_dir}} {{output_dir}}",
            "precomputed": f"precomputed:dir={precomputed_dir}"}[name]


@pytest.mark.parametrize("name", sorted(registered("cloaker")))
def test_every_registered_cloaker_returns_one_photo_of_the_same_size_per_input(name, photos, tmp_path, precomputed_dir,
                                                                               small_lfw):
    cloaker = build_cloaker(spec_for(name, tmp_path, precomputed_dir))
    users = {p.parent.name for p in photos}
    cloaker.use_public_identities({d.name: sorted(d.glob("*.jpg")) for d in sorted(small_lfw.iterdir())
                                   if d.is_dir() and d.name not in users})
    assert repr(cloaker).startswith(type(cloaker).__name__ + "(")
    out = tmp_path / "out"
    out.mkdir()
    result = cloaker.cloak(photos, out)
    assert set(result) == set(photos)
    for original, cloaked in result.items():
        assert isinstance(cloaked, Path), cloaked
        assert read_image(cloaked).shape == read_image(original).shape


def test_noise_reaches_its_dssim_budget(photos, tmp_path):
    result = build_cloaker("noise:budget=dssim:0.01").cloak(photos, tmp_path)
    for original, cloaked in result.items():
        assert perceptual_cost(read_image(original), read_image(cloaked)).dssim == pytest.approx(0.01, abs=0.0005)


def test_fawkes_moves_the_face_embedding_more_than_noise_of_the_same_cost(photos, tmp_path, mtcnn_pipeline):
    fawkes = build_cloaker("fawkes:mode=high,max_step=12")
    cloaked = fawkes.cloak(photos, tmp_path / "f")
    cost = np.mean([perceptual_cost(read_image(o), read_image(c)).dssim for o, c in cloaked.items()])
    noisy = build_cloaker(f"noise:budget=dssim:{cost:.5f}").cloak(photos, tmp_path / "n")

    def moved(result):
        clean = mtcnn_pipeline.embed_files(list(result), progress=False).embeddings
        after = mtcnn_pipeline.embed_files(list(result.values()), progress=False).embeddings
        return np.linalg.norm(clean - after, axis=1)

    assert cost <= fawkes.settings[0]
    assert (moved(cloaked) > 2 * moved(noisy)).all()
    # the perturbation stays where the chip reads: every pixel elsewhere is exactly as it was
    for photo, copy in cloaked.items():
        original, changed = read_image(photo), read_image(copy)
        (matrices,) = fawkes.chip_matrices([original])
        model = FrozenModel.of(fawkes.pipelines[0].extractor, matrices[0][None], torch.device("cpu"))
        rows, cols = chip_footprint([model], *original.shape[:2])
        outside = np.ones(original.shape[:2], bool)
        outside[rows, cols] = False
        assert (changed != original).any() and np.array_equal(changed[outside], original[outside])


def test_fawkes_skips_a_photo_without_a_face(tmp_path):
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    assert build_cloaker("fawkes:max_step=1").cloak([blank], tmp_path) == {blank: "no face detected"}


@pytest.mark.parametrize("version", sorted(FAWKES_OUTPUT_NAMES))
def test_official_fawkes_adapter_honours_the_command_line_contract(version, photos, tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    binary = executable(tmp_path / "bin" / "fawkes", stand_in(version))
    monkeypatch.setenv("PATH", f"{binary.parent}{os.pathsep}{os.environ['PATH']}")
    cloaker = build_cloaker("fawkes-official:mode=mid")  # found on PATH
    assert isinstance(cloaker, OfficialFawkes) and cloaker.implementation == "official"
    no_face = tmp_path / "noface_0001.jpg"  # the stand-in finds no face here, as fawkes finds none in some photos
    no_face.write_bytes(photos[0].read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    result = cloaker.cloak(photos + [no_face], out)
    for photo in photos:
        assert result[photo].name == f"{photo.stem}_cloaked.png"
        assert tuple(read_image(result[photo])[0, 0]) == (0, 0, 0)
    assert result[no_face] == "fawkes wrote no cloaked copy (it found no face)"


def test_official_fawkes_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert build_cloaker("fawkes").implementation == "built-in"  # never the official tool, installed or not
    with pytest.raises(RuntimeError, match="not installed"):
        build_cloaker("fawkes-official").check([], [])  # before any photo is cloaked


def test_command_failure_shows_the_command_and_its_error(photos, tmp_path):
    failing = executable(tmp_path / "fail.py", f"#!{sys.executable}\nimport sys\nsys.exit('out of memory')\n")
    with pytest.raises(RuntimeError, match="exited with status 1:\n  out of memory"):
        build_cloaker(f"command:template={failing} {{input_dir}} {{output_dir}}").cloak(photos, tmp_path)


def test_precomputed_uses_what_it_needs_and_says_what_is_missing_or_stray(photos, precomputed_dir, caplog):
    cloaker = build_cloaker(f"precomputed:dir={precomputed_dir}")
    assert cloaker.check(photos, photos) == {"dir": str(precomputed_dir), "copies": 2, "used": 2, "unused": 0,
                                             "missing": 0, "not_in_dataset": [], "naming": {"fawkes-v1.0": 2}}
    # a superset is fine: the unused copy is counted, not refused
    assert cloaker.check(photos[:1], photos)["unused"] == 1
    # a needed copy that is missing is a skip for that photo, named with the rule that was searched
    nobody = photos[1].with_name("Nobody_0001.jpg")
    assert cloaker.check([photos[0], nobody], photos + [nobody])["missing"] == 1
    assert "no cloaked copy under" in cloaker.cloak([photos[0], nobody], precomputed_dir)[nobody]
    # a copy whose original is not in the data set at all is a warning that names it
    with caplog.at_level("WARNING"):
        notes = cloaker.check(photos[:1], photos[:1])
    assert notes["not_in_dataset"] == [f"{photos[1].stem}_cloaked.png"]
    assert f"{photos[1].stem}_cloaked.png" in caplog.text
    # none at all: an error that says which folder and which naming rule were searched
    with pytest.raises(FileNotFoundError, match=f"none of the 1 photos to cloak has a copy under {precomputed_dir}"
                                                ".*x_cloaked"):
        cloaker.check([nobody], [nobody])


def test_unknown_cloaker_and_option_are_clear_errors():
    with pytest.raises(ValueError, match="unknown cloaker 'fawks'"):
        build_cloaker("fawks")
    with pytest.raises(ValueError, match="unknown option"):
        build_cloaker("noise:dsim=0.1")
    with pytest.raises(ValueError, match="mode='extreme'"):
        build_cloaker("fawkes:mode=extreme")


def test_store_recomputes_nothing_it_has(photos, tmp_path):
    calls = []

    class Counting(type(build_cloaker("noise"))):
        def cloak_images(self, images, keys):
            calls.append(len(images))
            return super().cloak_images(images, keys)

    store = CloakStore(Counting(budget="dssim:0.01"), root=tmp_path)
    first = store.cloak_user(photos, "someone")
    again = store.cloak_user(photos, "someone")
    assert calls == [2]
    assert {p: o.path for p, o in first.items()} == {p: o.path for p, o in again.items()}


def test_store_keeps_each_copys_cost_so_a_rerun_measures_nothing(photos, tmp_path, monkeypatch):
    measured = []

    def counted(original, cloaked):
        measured.append(original)
        return cost_or_reason(original, cloaked)

    monkeypatch.setattr(store_module, "cost_or_reason", counted)
    store = CloakStore(build_cloaker("noise:budget=dssim:0.01"), root=tmp_path)
    first = store.cloak_user(photos, "someone")
    again = CloakStore(build_cloaker("noise:budget=dssim:0.01"), root=tmp_path).cloak_user(photos, "someone")
    assert measured == photos  # once each, on the first run only
    for photo in photos:
        assert first[photo].cost == measured_cost(read_image(photo), read_image(first[photo].path))
        assert first[photo].cost.dssim > 0 and again[photo].cost == first[photo].cost


def test_a_copy_of_another_size_keeps_why_it_has_no_cost_and_becomes_a_skip(photos, tmp_path):
    class Cropping(type(build_cloaker("noise"))):
        def cloak_images(self, images, keys):
            return [image[:-1] for image in super().cloak_images(images, keys)]

    for attempt in range(2):  # measured, then read back from the store
        outcome = CloakStore(Cropping(budget="dssim:0.01"), root=tmp_path).cloak_user(photos[:1], "someone")[photos[0]]
        skipped = []
        assert kept_cost(outcome.cost, outcome.path, skipped) is None
        assert skipped == [Skip(path=str(outcome.path), stage="cloak",
                                reason="cloaked photo is 250×249, the original 250×250")]
