"""The run history: entries newest first, one shown whole, and concurrent runs all recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit.cli import main
from audit.comparison import compare_reports
from audit.history import History
from audit.records import dumps
from tests.builders import cell, run_report, user_row


def _record_at(args: tuple[str, int, float]) -> None:
    """Open the history at the given instant (as a run does when it ends) and record three entries."""
    path, worker, start = args
    while time.time() < start:
        pass
    for i in range(3):
        with History(Path(path)) as history:
            report = run_report([cell(rows=(user_row(f"worker{worker}", 3, i),))])
            history.record("run", report, "r.json", f"audit run {worker}", "none", ["faiss"],
                           f"worker {worker} entry {i}")


def test_entries_are_listed_newest_first_and_shown_whole(tmp_path):
    report = run_report([cell()])
    with History(tmp_path / "h.sqlite") as history:
        first = history.record("run", report, tmp_path / "a.json", "audit run --cloaker none", "none", ["faiss"],
                               "faiss: 0.0%")
        second = history.record("compare", compare_reports(report, report), tmp_path / "b.md", "audit compare a b",
                                "", [], "1 better")
        assert [e.id for e in history.entries()] == [second, first]
        assert dumps(history.get(first).report) == dumps(report)
        assert history.get(first).command == "audit run --cloaker none"
        assert history.get(second).report.cells[0].verdict == "no detectable change"
        with pytest.raises(KeyError, match="no history entry 99"):
            history.get(99)
        with pytest.raises(ValueError, match="history kind"):
            history.record("dance", report, "x", "", "", [], "")


def test_version_1_entries_are_still_shown(tmp_path):
    """An entry recorded by main before schema version 2 (its report.json as it stood) reads as today's record."""
    v1 = json.loads((Path(__file__).parent / "reports" / "data" / "report_v1.json").read_text())
    with History(tmp_path / "h.sqlite") as history:
        with history._db:  # as main's History wrote it: the report dict as it was
            history._db.execute("INSERT INTO entries (kind, at, command, cloaker, trackers, headline, report_path,"
                                " report) VALUES ('run', '', 'audit run', 'noise', 'faiss', '', 'r.json', ?)",
                                (json.dumps(v1),))
        entry = history.entries(1)[0]
        assert entry.report.schema_version == 2 and len(entry.report.results) == 24
        assert entry.report.detection[0].cloak_detector == "2-means"


def test_concurrent_writers_lose_nothing(tmp_path):
    # Eight processes open a new history at the same instant: they race to create it and to switch
    # it to WAL, which SQLite refuses at once (no busy wait) to all but one. Rounds make the race likely.
    # spawned, not forked: a fork of a process with torch's threads can inherit a held lock and hang
    with get_context("spawn").Pool(8) as pool:
        for round_ in range(10):
            path = str(tmp_path / f"h{round_}.sqlite")
            start = time.time() + 0.3
            pool.map(_record_at, [(path, w, start) for w in range(8)])
            with History(Path(path)) as history:
                entries = history.entries()
            assert sorted((int(e.report.results[0].per_user[0].user[6:]), e.report.results[0].per_user[0].hidden)
                          for e in entries) == [(w, i) for w in range(8) for i in range(3)]


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


def test_the_history_stays_out_of_the_data_folder_and_an_unwritable_one_loses_no_report(small_lfw, tmp_path,
                                                                                        monkeypatch):
    data = tmp_path / "shared-data"  # the data sets' folder: several machines may share it, read-only
    data.mkdir()
    monkeypatch.setenv("AUDIT_DATA", str(data))
    monkeypatch.delenv("AUDIT_HISTORY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))  # the platform's user data folder
    command = ["run", "--cloaker", "none", "--tracker", "faiss", "--dataset", str(small_lfw), "--users", "1",
               "--min-photos", "10", "--max-photos", "12", "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert list(data.iterdir()) == []
    with History(tmp_path / "user-data" / "cloak-audit" / "history.sqlite") as history:
        assert [Path(e.report_path).parent.name for e in history.entries()] == ["run"]

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "a-file" / "below"))  # no folder can be made there
    (tmp_path / "run" / "report.json").unlink()
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert "warning: the run history could not be written" in result.output
    assert (tmp_path / "run" / "report.json").is_file()
