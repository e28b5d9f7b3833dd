"""Cloaked copies matched to their originals by the names the real tools write."""

from pathlib import Path

import pytest

from audit.cloakers import build_cloaker
from audit.cloakers.matching import CopyIndex, match_cloaked, match_copies
from audit.plan import VerifyPlan
from audit.verify import person_photos

REAL_V03 = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "real-cloaks" / \
    "fawkes-v0.3-high-celebahq"


def files(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return [folder / name for name in names]


def test_the_official_fawkes_v03_outputs_are_matched_and_the_rule_is_named():
    originals = sorted((REAL_V03 / "original").glob("*.png"))
    assert len(originals) == 12
    matched = match_cloaked(originals, REAL_V03 / "cloaked", allow_extra=False)
    assert {o.stem: c.path.name for o, c in matched.items()} == {o.stem: f"{o.stem}_high_cloaked.png"
                                                                 for o in originals}
    assert {(c.rule, c.mode) for c in matched.values()} == {("fawkes-v0.3", "high")}
    notes = build_cloaker(f"precomputed:dir={REAL_V03 / 'cloaked'}").check(originals, originals)
    assert (notes["used"], notes["missing"], notes["naming"]) == (12, 0, {"fawkes-v0.3": 12})


def test_audit_verify_reads_a_real_v03_folder(tmp_path):
    person = person_photos(VerifyPlan(originals=REAL_V03 / "original", cloaked=REAL_V03 / "cloaked", out=tmp_path))
    assert len(person.usable) == 12 and person.naming == {"fawkes-v0.3": 12}
    assert all(person.cloaked[p].name == f"{p.stem}_high_cloaked.png" for p in person.usable)


@pytest.mark.parametrize(("copy", "rule"), [("x_cloaked.png", "fawkes-v1.0"), ("x_attacked.png", "lowkey"),
                                            ("x.png", "same-name"), ("x_ultra_cloaked.jpg", "fawkes-v0.3"),
                                            ("x_min_cloaked.png", "fawkes-v0.3")])
def test_every_naming_the_real_tools_use(tmp_path, copy, rule):
    [original] = files(tmp_path / "originals" / "p", "x.jpg")
    [cloaked] = files(tmp_path / "copies", copy)
    matched = match_cloaked([original], tmp_path / "copies", allow_extra=False)
    assert (matched[original].path, matched[original].rule) == (cloaked, rule)


def test_two_modes_of_one_photo_are_refused_unless_one_is_picked(tmp_path):
    [original] = files(tmp_path / "originals" / "p", "x.jpg")
    files(tmp_path / "copies", "x_min_cloaked.png", "x_high_cloaked.png")
    with pytest.raises(ValueError, match=r"x_high_cloaked.png \(fawkes-v0.3\), x_min_cloaked.png \(fawkes-v0.3\) "
                                         r"all claim to cloak p/x.jpg; pick one Fawkes mode with mode= \(high, min\)"):
        match_cloaked([original], tmp_path / "copies")
    assert match_cloaked([original], tmp_path / "copies", mode="min")[original].path.name == "x_min_cloaked.png"
    cloaker = build_cloaker(f"precomputed:dir={tmp_path / 'copies'},mode=high")
    assert cloaker.cloak([original], tmp_path)[original].name == "x_high_cloaked.png"
    with pytest.raises(ValueError, match="mode='extreme'"):
        build_cloaker(f"precomputed:dir={tmp_path / 'copies'},mode=extreme")


def test_a_name_that_reads_two_ways_goes_to_the_original_the_data_set_has(tmp_path):
    # `beach_high_cloaked.png` is v1.0's copy of beach_high.jpg, or v0.3's copy of beach.jpg
    [beach_high] = files(tmp_path / "a" / "p", "beach_high.jpg")
    copies = tmp_path / "copies"
    files(copies, "beach_high_cloaked.png")
    assert match_cloaked([beach_high], copies)[beach_high].rule == "fawkes-v1.0"
    # with both originals present, the more specific rule (v0.3) wins and the other original has no copy
    [beach] = files(tmp_path / "a" / "p", "beach.jpg")
    matched = match_copies([beach, beach_high], CopyIndex.of(copies))
    assert matched[beach].rule == "fawkes-v0.3" and beach_high not in matched


def test_copies_written_beside_the_originals_are_found_and_an_original_is_never_its_own_copy(tmp_path):
    # the official tool writes its output next to each photo: --cloaked may be the originals' own folder
    folder = tmp_path / "me"
    originals = files(folder, "a.jpg", "b.jpg")
    files(folder, "a_high_cloaked.png", "b_high_cloaked.png")
    matched = match_cloaked(originals, folder, allow_extra=False)
    assert {o.name: c.path.name for o, c in matched.items()} == {"a.jpg": "a_high_cloaked.png",
                                                                 "b.jpg": "b_high_cloaked.png"}


def test_a_broken_link_among_the_copies_is_a_skip_that_names_it(tmp_path):
    [original] = files(tmp_path / "originals" / "p", "x.jpg")
    copies = tmp_path / "copies"
    copies.mkdir()
    (copies / "x_cloaked.png").symlink_to(tmp_path / "moved-away.png")
    outcome = build_cloaker(f"precomputed:dir={copies}").cloak([original], tmp_path)
    assert outcome[original] == f"cloaked copy x_cloaked.png is a broken link → {tmp_path / 'moved-away.png'}"
