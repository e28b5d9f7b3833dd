"""The run history: entries newest first, one shown whole, and concurrent runs all recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from multiprocessing import Pool
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit.cli import main
from audit.history import History


def _record_many(args: tuple[str, int]) -> None:
    path, worker = args
    with History(Path(path)) as history:
        for i in range(40):
            history.record("run", {"results": [], "n": i, "worker": worker}, "r.json", f"audit run {worker}",
                           "none", ["faiss"], f"worker {worker} entry {i}")


def test_entries_are_listed_newest_first_and_shown_whole(tmp_path):
    with History(tmp_path / "h.sqlite") as history:
        first = history.record("run", {"a": 1}, tmp_path / "a.json", "audit run --cloaker none", "none", ["faiss"],
                               "faiss: 0.0%")
        second = history.record("compare", {"b": 2}, tmp_path / "b.md", "audit compare a b", "", [], "1 better")
        assert [e.id for e in history.entries()] == [second, first]
        assert history.get(first).report == {"a": 1} and history.get(first).command == "audit run --cloaker none"
        with pytest.raises(KeyError, match="no history entry 99"):
            history.get(99)
        with pytest.raises(ValueError, match="history kind"):
            history.record("dance", {}, "x", "", "", [], "")


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "h.sqlite")
    with Pool(2) as pool:
        pool.map(_record_many, [(path, 0), (path, 1)])
    with History(Path(path)) as history:
        entries = history.entries()
    assert len(entries) == 80
    assert sorted((e.report["worker"], e.report["n"]) for e in entries) == [(w, i) for w in (0, 1) for i in range(40)]


def test_two_runs_started_together_are_both_in_the_history(small_lfw, tmp_path):
    command = [sys.executable, "-m", "audit.cli", "run", "--cloaker", "none", "--tracker", "faiss", "--dataset",
               str(small_lfw), "--users", "1", "--min-photos", "10", "--max-photos", "12"]
    runs = [subprocess.Popen([*command, "--seed", str(seed), "--out", str(tmp_path / f"run{seed}")],
                             env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for seed in (1, 2)]
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-2000:]
    listing = CliRunner().invoke(main, ["history"])
    assert listing.exit_code == 0, listing.output
    with History() as history:
        latest = history.entries(2)
    assert sorted(Path(e.report_path).parent.name for e in latest) == ["run1", "run2"]
    assert all(f"{e.id:>5}" in listing.output and "faiss" in e.headline for e in latest)
    shown = CliRunner().invoke(main, ["history", "show", str(latest[0].id)])
    assert shown.exit_code == 0 and "command: audit run" in shown.output and "# cloak-audit report" in shown.output
    assert CliRunner().invoke(main, ["history", "show", "999999"]).exit_code == 1
