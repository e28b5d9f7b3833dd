"""`audit bench`: a battery run against a cloak, its scorecard (the headline recomputed from its cells), resuming
after SIGKILL, the leaderboard, and two scorecards compared."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from click.testing import CliRunner

import audit.cells
from audit.battery import Battery
from audit.battery.scorecard import lowest_by, tracker_model
from audit.cli import main
from audit.comparison import compare_scorecards
from audit.records import ScoreCard, ScoreCell, dumps
from reports.leaderboard import render_leaderboard
from tests.builders import rate, run_report
from tests.conftest import REPO
from tests.test_checkpoints import KILLED_RUN

TINY = """battery = "tiny-v1"
description = "a test's battery: 2 users, two models, faiss with JPEG and a linear probe"
dataset = "{dataset}"
users = 2
min_photos = 10
max_photos = 12
labels = 4
seeds = [1]
leak_ratios = [0.0]
models = ["dlib-resnet", "mobilefacenet"]

[[parts]]
name = "search"
trackers = ["faiss"]
countermeasures = ["jpeg:quality=50"]

[[parts]]
name = "classifier"
trackers = ["linear-probe"]
"""
# a cloak made on dlib-resnet: its dlib-resnet cells are white-box, its mobilefacenet cells transfer
CLOAKER = "fawkes:mode=low,max_step=2"


@pytest.fixture
def tiny(small_lfw, tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(dataset=small_lfw))
    return path


def test_the_shipped_batteries_are_found_by_name_and_version():
    standard = Battery.load("standard")
    assert standard.version == "standard-v1" and Battery.load("standard-v1") == standard
    assert [part.name for part in standard.parts] == ["search", "classifier"]
    assert standard.parts[0].distractors == "lfw-singletons" and standard.leak_ratios == (0.0, 0.2)
    assert Battery.load("quick").version == "quick-v1"
    with pytest.raises(ValueError, match="no battery 'huge'"):
        Battery.load("huge")


def test_a_bench_scores_the_worst_transfer_cell_and_keeps_white_box_cells_apart(tiny, tmp_path):
    out = tmp_path / "bench"
    result = CliRunner().invoke(main, ["bench", "--cloaker", CLOAKER, "--battery", str(tiny), "--out", str(out),
                                       "--name", "fawkes low, 2 steps"])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "scorecard.json").read_text())
    assert (card["battery"], card["name"]) == ("tiny-v1", "fawkes low, 2 steps")
    assert len(card["cells"]) == 2 * 2 + 2 and card["runs"] == [str(out / "search"), str(out / "classifier")]
    transfer = [c for c in card["cells"] if c["transfer"]]
    assert {c["tracker_extractor"] for c in transfer} == {"mobilefacenet"}
    # the headline is the worst transfer cell, recomputed here from the cells
    assert card["worst_case"] == min(transfer, key=lambda c: (c["protection"]["rate"], c["protection"]["ci95"][1]))
    assert card["worst_white_box"]["tracker_extractor"] == "dlib-resnet"
    assert card["by_model"] == {"mobilefacenet": card["worst_case"]["protection"]["rate"]}
    assert card["cost"]["lpips_mean"] > 0 and card["cloaker"]["cloak_extractors"] == ["dlib-resnet"]
    assert "worst-case protection" in result.output and (out / "scorecard.html").is_file()
    protecting = sum(c["protection"]["ci95"][0] > c["control"]["ci95"][1] for c in transfer)
    markdown = (out / "scorecard.md").read_text()
    assert "# Scorecard: fawkes low, 2 steps on tiny-v1" in markdown
    assert f"Transfer cells protected (beyond the control): {protecting} of {len(transfer)}." in markdown


def test_a_bench_killed_mid_way_reuses_every_finished_cell(tiny, tmp_path, monkeypatch):
    out = tmp_path / "bench"
    args = ["bench", "--cloaker", CLOAKER, "--battery", str(tiny), "--out", str(out)]
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, *args], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "KILL_AFTER": "2"}, timeout=900)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert len(list((out / "search" / "cells").glob("*.json"))) == 2 and not (out / "scorecard.json").exists()
    computed = []
    evaluate = audit.cells.evaluate_tracker
    monkeypatch.setattr(audit.cells, "evaluate_tracker",
                        lambda tracker, *arguments: computed.append(tracker.label) or evaluate(tracker, *arguments))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(computed) == 6 - 2  # every cell the killed bench finished is read back
    assert json.loads((out / "search" / "report.json").read_text())["cells"] == {"total": 4, "reused": 2,
                                                                                 "computed": 2}


def card(name: str, worst: float, battery: str = "standard-v1", white_box: float = 1.0,
         better_cells: tuple[float, ...] = ()) -> ScoreCard:
    """A scorecard whose worst transfer cell is `worst`, with more transfer cells at `better_cells`."""
    report = run_report([])

    def cell(value: float, transfer: bool) -> ScoreCell:
        return ScoreCell(tracker="linear-probe:extractor=faceres", tracker_extractor="faceres", transfer=transfer,
                         countermeasure="jpeg:quality=10", leak_ratio=0.0,
                         protection=rate(value, value / 2, min(1.0, value + 0.1)),
                         control=rate(0.0, 0.0, 0.1), normal_accuracy=rate(0.98, 0.95, 1.0))

    worst_cell = cell(worst, True)
    return ScoreCard(battery=battery, name=name, cloaker=report.cloaker, cost=report.perturbation,
                     worst_case=worst_cell, worst_white_box=cell(white_box, False), by_model={"faceres": worst},
                     by_countermeasure={"jpeg:quality=10": worst}, detectability=0.7, normal_accuracy=0.98,
                     control=0.0, models_missing=(),
                     cells=(worst_cell, *(cell(v, True) for v in better_cells), cell(white_box, False)), runs=(),
                     environment=report.environment)


def test_a_robust_copy_counts_under_the_model_it_was_fine_tuned_from():
    plain = ScoreCell(tracker="faiss:extractor=faceres", tracker_extractor="faceres", transfer=True,
                      countermeasure="none", leak_ratio=0.0, protection=rate(0.5, 0.3, 0.7),
                      control=rate(0.0, 0.0, 0.1), normal_accuracy=rate(1.0, 0.9, 1.0))
    robust = replace(plain, tracker_extractor="torchscript:path=/home/u/.cache/robust-extractors/faceres-1a2b.pt",
                     countermeasure="robust-retraining", protection=rate(0.1, 0.0, 0.3))
    assert lowest_by([plain, robust], tracker_model) == {"faceres": 0.1}


def test_the_leaderboard_ranks_by_worst_case_and_refuses_mixed_versions(tmp_path):
    markdown, html = render_leaderboard([card("weak", 0.1, white_box=1.0), card("strong", 0.6, white_box=0.7)])
    rows = [line for line in markdown.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert rows[0].startswith("| 1 | strong | 60.0%") and rows[1].startswith("| 2 | weak | 10.0%")
    assert "<table>" in html and "strong" in html
    markdown, _ = render_leaderboard([card("a", 0.0), card("b", 0.3), card("c", 0.0)])
    assert [line.split(" | ")[0] for line in markdown.splitlines() if line.startswith("| ") and "%" in line] == \
        ["| 1", "| 2", "| 2"]  # a tie shares its rank
    markdown, _ = render_leaderboard([card("fails everywhere", 0.0),
                                      card("protects elsewhere", 0.0, better_cells=(0.9,))])
    rows = [line for line in markdown.splitlines() if line.startswith("| 1 ")]
    # tied at the headline, ordered by the transfer cells that protect beyond the control
    assert "| protects elsewhere | 0.0%" in rows[0] and "| 1 of 2 |" in rows[0] and "| 0 of 1 |" in rows[1]
    with pytest.raises(ValueError, match="several battery versions"):
        render_leaderboard([card("a", 0.1), card("b", 0.2, battery="quick-v1")])
    for name, value in (("a", 0.1), ("b", 0.6)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "scorecard.json").write_text(dumps(card(name, value)))
    result = CliRunner().invoke(main, ["leaderboard", str(tmp_path / "a"), str(tmp_path / "b"),
                                       "--out", str(tmp_path / "board")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "board" / "leaderboard.html").is_file()


def test_two_scorecards_compare_cell_by_cell_and_at_their_worst_case(tmp_path):
    before, after = card("v1", 0.6), card("v2", 0.05)
    comparison = compare_scorecards(before, after)
    assert comparison.worst_case.change == pytest.approx(-0.55) and comparison.worst_case.verdict == "worse"
    for name, scored in (("a", before), ("b", after)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "scorecard.json").write_text(dumps(scored))
    gate = CliRunner().invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--fail-if-worse"])
    assert gate.exit_code == 1 and "WORSE: worst case" in gate.output
    with pytest.raises(ValueError, match="one battery version"):
        compare_scorecards(before, replace(after, battery="quick-v1"))


SHIPPED = REPO / "docs" / "scorecards" / "standard-v1"  # the scorecards docs/leaderboard.html was made from


def test_the_shipped_scorecards_rank_into_the_shipped_leaderboard(tmp_path):
    folders = sorted(SHIPPED.iterdir())  # as `bench/leaderboard.sh` passes them: "$OUT"/*/
    assert [f.name for f in folders] == ["fawkes-ensemble", "fawkes-high", "fawkes-low", "fawkes-mid", "lowkey",
                                         "noise", "none"]
    ranked = CliRunner().invoke(main, ["leaderboard", *map(str, folders), "--out", str(tmp_path)])
    assert ranked.exit_code == 0, ranked.output
    assert (tmp_path / "leaderboard.html").read_bytes() == (REPO / "docs" / "leaderboard.html").read_bytes()
    rows = [line for line in (tmp_path / "leaderboard.md").read_text().splitlines() if line.startswith("| 1 ")]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(rows) == 7 and all(row in readme for row in rows)


def test_a_new_cloak_compares_against_a_shipped_baseline(tmp_path):
    compared = CliRunner().invoke(main, ["compare", str(SHIPPED / "fawkes-high"), str(SHIPPED / "lowkey"),
                                         "--out", str(tmp_path)])
    assert compared.exit_code == 0, compared.output
    document = json.loads((tmp_path / "compare.json").read_text())
    assert document["worst_case"]["tracker"] == "worst case" and len(document["cells"]) == 60
    faceres = [c for c in document["cells"] if "faceres" in c["tracker"] and c["countermeasure"] == "none"
               and c["leak_ratio"] == 0.0]
    assert faceres and all(c["verdict"] == "better" for c in faceres)  # LowKey hides from FaceRes, Fawkes does not
