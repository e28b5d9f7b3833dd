"""`audit compare`: cells, paired and unpaired intervals, McNemar, verdicts and the release gate."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit.cli import main
from audit.comparison import compare_reports, worse_cells
from audit.history import History
from audit.records import McNemar, RunReport, dumps
from audit.records.files import load_report
from audit.statistics import difference_interval, mcnemar
from reports.compare import render_comparison_markdown
from tests.builders import cell, run_report, user_row


def report(hidden_per_user: list[int], n_test: int = 10, seed: int = 0, cloaker: str = "noise") -> RunReport:
    """A run report with one faiss cell; user i hides the first hidden_per_user[i] of its photos."""
    rows = tuple(user_row(f"user{i}", n_test, hidden) for i, hidden in enumerate(hidden_per_user))
    return run_report([cell("faiss", rows=rows, n_labels=62)], cloaker=cloaker, seed=seed)


def test_a_strong_cloak_is_better_than_noise_and_the_gate_catches_the_reverse():
    noise, strong = report([0, 0, 1, 0, 0]), report([10, 9, 10, 10, 10], cloaker="fawkes")
    forward = compare_reports(noise, strong)
    compared = forward.cells[0]
    assert forward.paired and compared.verdict == "better" and compared.ci95[0] > 0.8
    assert compared.mcnemar == McNemar(hidden_only_in_a=0, hidden_only_in_b=48, p=mcnemar(0, 48))
    assert compared.mcnemar.p < 1e-10
    backward = compare_reports(strong, noise)
    assert backward.cells[0].verdict == "worse" and worse_cells(backward, margin=0.0)
    assert not worse_cells(backward, margin=0.99)  # a drop smaller than the margin passes the gate
    itself = compare_reports(strong, copy.deepcopy(strong)).cells[0]
    assert itself.change == 0 and tuple(itself.ci95) == (0, 0) and itself.verdict == "no detectable change"


def test_runs_with_another_seed_are_compared_unpaired():
    comparison = compare_reports(report([0, 1, 0]), report([1, 0, 0], seed=1))
    compared = comparison.cells[0]
    assert not comparison.paired and compared.mcnemar is None and compared.verdict == "no detectable change"
    assert compared.method == "bootstrap over each run's users"


def test_cells_only_in_one_run_are_listed_not_compared():
    a, b = report([0, 0]), report([0, 0])
    b = replace(b, results=(*b.results, replace(b.results[0], tracker="linear-probe")))
    comparison = compare_reports(a, b)
    assert len(comparison.cells) == 1 and "linear-probe" in comparison.only_in_b[0]
    text = render_comparison_markdown(comparison, "a", "b")
    assert "Cells only in B" in text and "| `faiss` |" in text
    with pytest.raises(ValueError, match="no .* cell in common"):
        compare_reports(a, replace(b, results=b.results[1:]))


def test_a_gallery_size_sweep_is_compared_size_by_size_with_its_column():
    a, b = report([0, 0]), report([5, 5])
    a, b = (replace(r, results=(*r.results, replace(r.results[0], n_distractors=4069))) for r in (a, b))
    comparison = compare_reports(a, b)
    assert [c.n_distractors for c in comparison.cells] == [0, 4069]
    text = render_comparison_markdown(comparison, "a", "b")
    assert "| leak ratio | labels | distractors |" in text and " | 4069 | " in text
    plain = render_comparison_markdown(compare_reports(report([0, 0]), report([5, 5])), "a", "b")
    assert "distractors" not in plain


def test_single_user_intervals_fall_back_to_newcombe():
    diff, (lo, hi) = difference_interval(([0], [20]), ([20], [20]), paired=True, seed=0)
    assert diff == 1.0 and 0.6 < lo < 1.0 and hi == 1.0


def test_mcnemar_exact():
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(0, 6) == pytest.approx(2 / 64)
    assert mcnemar(3, 3) == 1.0


def test_the_command_writes_files_and_exits_1_only_when_worse(tmp_path):
    noise, strong = tmp_path / "noise.json", tmp_path / "fawkes"
    noise.write_text(dumps(report([0, 0, 1, 0, 0])))
    strong.mkdir()
    (strong / "report.json").write_text(dumps(report([10, 9, 10, 10, 10], cloaker="fawkes")))
    better = CliRunner().invoke(main, ["compare", str(noise), str(strong), "--fail-if-worse", "--out",
                                       str(tmp_path / "cmp")])
    assert better.exit_code == 0, better.output
    assert "**better**" in better.output
    assert all((tmp_path / "cmp" / f"compare.{kind}").exists() for kind in ("json", "md", "html"))
    with History() as history:
        entry = history.entries(1)[0]
    assert entry.kind == "compare" and entry.cloaker == "noise → fawkes"
    shown = CliRunner().invoke(main, ["history", "show", str(entry.id)])
    assert shown.exit_code == 0 and "| better |" not in shown.output and "**better**" in shown.output
    worse = CliRunner().invoke(main, ["compare", str(strong), str(noise), "--fail-if-worse"])
    assert worse.exit_code == 1 and "WORSE: faiss" in worse.output
    assert CliRunner().invoke(main, ["compare", str(strong), str(noise)]).exit_code == 0  # no gate asked
    assert CliRunner().invoke(main, ["compare", str(strong), str(strong), "--fail-if-worse"]).exit_code == 0
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    result = CliRunner().invoke(main, ["compare", str(broken), str(noise)])
    assert result.exit_code == 1 and "not an `audit run` report" in result.output
    assert load_report(strong).cloaker.name == "fawkes"


def test_a_version_1_report_from_main_still_compares(tmp_path):
    """report_v1.json was written by main before schema version 2; compared with itself rewritten as version 2,
    every cell pairs and nothing changed."""
    v1 = Path(__file__).with_name("data") / "report_v1.json"
    assert json.loads(v1.read_text())["schema_version"] == 1
    v2 = tmp_path / "report.json"
    v2.write_text(dumps(load_report(v1)))
    assert json.loads(v2.read_text())["schema_version"] == 2
    outcome = CliRunner().invoke(main, ["compare", str(v1), str(v2), "--fail-if-worse", "--out", str(tmp_path / "cmp")])
    assert outcome.exit_code == 0, outcome.output
    comparison = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert len(comparison["cells"]) == 24 and comparison["paired"]
    assert {c["verdict"] for c in comparison["cells"]} == {"no detectable change"}
    assert all(c["change"] == 0 and c["mcnemar"]["p"] == 1.0 for c in comparison["cells"])


def test_a_report_of_a_newer_or_broken_schema_is_refused_with_its_reason(tmp_path):
    data = json.loads(dumps(report([1, 0])))
    newer, broken = tmp_path / "newer.json", tmp_path / "broken.json"
    newer.write_text(json.dumps({**data, "schema_version": 3}))
    del data["results"][0]["protection"]
    broken.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="schema version 3; this cloak-audit reads 1 and 2"):
        load_report(newer)
    with pytest.raises(ValueError, match=r"results\[0\]: no 'protection'"):
        load_report(broken)
