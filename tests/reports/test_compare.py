"""`audit compare`: cells, paired and unpaired intervals, McNemar, verdicts and the release gate."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from audit.cli import main
from audit.history import History
from audit.metrics import difference_interval, mcnemar
from reports.compare import compare_reports, load_report, render_comparison_markdown, worse_cells


def report(hidden_per_user: list[int], n_test: int = 10, seed: int = 0, cloaker: str = "noise") -> dict:
    """A run report with one faiss cell; user i hides the first hidden_per_user[i] of its photos."""
    per_user = []
    for i, hidden in enumerate(hidden_per_user):
        photos = [f"user{i}/p{j}.jpg" for j in range(n_test)]
        per_user.append({"user": f"user{i}", "n_test": n_test, "hidden": hidden, "control_hidden": 0,
                         "test_photos": photos, "hidden_photos": photos[:hidden]})
    total = sum(hidden_per_user) / (n_test * len(hidden_per_user))
    result = {"tracker": "faiss", "countermeasure": "none", "leak_ratio": 0.0, "n_labels": 62,
              "protection": {"rate": total, "ci95": [0, 1]}, "control": {"rate": 0.0, "ci95": [0, 0]},
              "per_user": per_user}
    return {"cloaker": {"name": cloaker, "params": {}}, "results": [result],
            "protocol": {"dataset": "lfw", "users": [u["user"] for u in per_user], "seed": seed,
                         "isolation": "per-user", "min_photos": 20, "max_photos": 40, "train_fraction": 0.7,
                         "labels": ["x"]},
            "environment": {"command_line": f"audit run --cloaker {cloaker}"}}


def test_a_strong_cloak_is_better_than_noise_and_the_gate_catches_the_reverse():
    noise, strong = report([0, 0, 1, 0, 0]), report([10, 9, 10, 10, 10], cloaker="fawkes")
    forward = compare_reports(noise, strong)
    cell = forward["cells"][0]
    assert forward["paired"] and cell["verdict"] == "better" and cell["ci95"][0] > 0.8
    assert cell["mcnemar"] == {"hidden_only_in_a": 0, "hidden_only_in_b": 48, "p": mcnemar(0, 48)}
    assert cell["mcnemar"]["p"] < 1e-10
    backward = compare_reports(strong, noise)
    assert backward["cells"][0]["verdict"] == "worse" and worse_cells(backward, margin=0.0)
    assert not worse_cells(backward, margin=0.99)  # a drop smaller than the margin passes the gate
    itself = compare_reports(strong, copy.deepcopy(strong))["cells"][0]
    assert itself["change"] == 0 and itself["ci95"] == [0, 0] and itself["verdict"] == "no detectable change"


def test_runs_with_another_seed_are_compared_unpaired():
    comparison = compare_reports(report([0, 1, 0]), report([1, 0, 0], seed=1))
    cell = comparison["cells"][0]
    assert not comparison["paired"] and "mcnemar" not in cell and cell["verdict"] == "no detectable change"
    assert cell["method"] == "bootstrap over each run's users"


def test_cells_only_in_one_run_are_listed_not_compared():
    a, b = report([0, 0]), report([0, 0])
    b["results"].append({**b["results"][0], "tracker": "linear-probe"})
    comparison = compare_reports(a, b)
    assert len(comparison["cells"]) == 1 and "linear-probe" in comparison["only_in_b"][0]
    text = render_comparison_markdown(comparison, "a", "b")
    assert "Cells only in B" in text and "| `faiss` |" in text
    b["results"] = b["results"][1:]
    with pytest.raises(ValueError, match="no .* cell in common"):
        compare_reports(a, b)


def test_single_user_intervals_fall_back_to_newcombe():
    diff, (lo, hi) = difference_interval(([0], [20]), ([20], [20]), paired=True, seed=0)
    assert diff == 1.0 and 0.6 < lo < 1.0 and hi == 1.0


def test_mcnemar_exact():
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(0, 6) == pytest.approx(2 / 64)
    assert mcnemar(3, 3) == 1.0


def test_the_command_writes_files_and_exits_1_only_when_worse(tmp_path):
    noise, strong = tmp_path / "noise.json", tmp_path / "fawkes"
    noise.write_text(json.dumps(report([0, 0, 1, 0, 0])))
    strong.mkdir()
    (strong / "report.json").write_text(json.dumps(report([10, 9, 10, 10, 10], cloaker="fawkes")))
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
    assert load_report(strong)["cloaker"]["name"] == "fawkes"
