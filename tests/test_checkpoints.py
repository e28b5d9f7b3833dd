"""Per-cell checkpoints: a run killed or failed midway keeps its finished cells, and a re-run computes only the rest."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import audit.cells
import audit.checkpoints
from audit.cells import PreparedCountermeasure
from audit.checkpoints import CellStore
from audit.cli import main
from audit.records import Skip
from tests.builders import cell
from tests.conftest import REPO
from trackers.linear_probe import LinearProbeTracker

SMALL = ["--users", "2", "--min-photos", "10", "--max-photos", "12", "--seed", "1"]
# 2 trackers × 2 countermeasures (none and jpeg): 4 cells, in the order none/faiss, none/lp, jpeg/faiss, jpeg/lp
SWEEP = ["--cloaker", "noise:budget=dssim:0.005", "--tracker", "faiss", "--tracker", "linear-probe",
         "--countermeasure", "jpeg:quality=50"]

# `audit run` in a child process that SIGKILLs itself once it has written $KILL_AFTER cells: the
# kill lands between two cells, as an out-of-memory kill would, with no chance to clean up.
KILLED_RUN = """
import os, signal, sys
from audit.cells import PreparedCountermeasure
from audit.checkpoints import CellStore
from audit.cli import main

save = CellStore.save

def save_then_die(self, key, result, skipped):
    kept = save(self, key, result, skipped)
    if self.computed == int(os.environ["KILL_AFTER"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return kept

CellStore.save = save_then_die
main(sys.argv[1:])
"""


def run(small_lfw, out, *extra):
    return CliRunner().invoke(main, ["run", "--dataset", str(small_lfw), "--out", str(out), *SMALL, *SWEEP, *extra])


@pytest.fixture
def computed_cells(monkeypatch):
    """The cells a run computes (the runner's calls to evaluate a tracker), by tracker and countermeasure."""
    computed = []
    evaluate = audit.cells.evaluate_tracker

    def counting(tracker, *arguments):
        prepared = next(a for a in arguments if isinstance(a, PreparedCountermeasure))
        computed.append((tracker.label, prepared.countermeasure.label))
        return evaluate(tracker, *arguments)

    monkeypatch.setattr(audit.cells, "evaluate_tracker", counting)
    return computed


@pytest.fixture(scope="module")
def uninterrupted(small_lfw, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    result = run(small_lfw, out)
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text())


def test_an_uninterrupted_run_keeps_every_cell_and_a_rerun_reuses_them(small_lfw, tmp_path, uninterrupted,
                                                                        computed_cells):
    assert uninterrupted["cells"] == {"total": 4, "reused": 0, "computed": 4}
    assert [(r["tracker"], r["countermeasure"]) for r in uninterrupted["results"]] == [
        ("faiss", "none"), ("linear-probe", "none"), ("faiss", "jpeg:quality=50"), ("linear-probe", "jpeg:quality=50")]
    first = run(small_lfw, tmp_path)
    assert first.exit_code == 0, first.output
    assert len(list((tmp_path / "cells").glob("*.json"))) == 4
    computed_cells.clear()
    again = run(small_lfw, tmp_path)
    assert again.exit_code == 0, again.output
    assert computed_cells == [] and "0 computed, 4 reused" in again.output
    assert json.loads((tmp_path / "report.json").read_text())["results"] == uninterrupted["results"]


def test_after_sigkill_a_rerun_computes_only_the_missing_cells(small_lfw, tmp_path, uninterrupted, computed_cells):
    args = ["run", "--dataset", str(small_lfw), "--out", str(tmp_path), *SMALL, *SWEEP]
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, *args], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "KILL_AFTER": "2"}, timeout=900)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert len(list((tmp_path / "cells").glob("*.json"))) == 2 and not (tmp_path / "report.json").exists()
    resumed = run(small_lfw, tmp_path)
    assert resumed.exit_code == 0, resumed.output
    assert computed_cells == [("faiss", "jpeg:quality=50"), ("linear-probe", "jpeg:quality=50")]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["cells"] == {"total": 4, "reused": 2, "computed": 2}
    assert report["results"] == uninterrupted["results"]


def test_after_an_exception_in_fit_a_rerun_computes_only_the_missing_cells(small_lfw, tmp_path, uninterrupted,
                                                                             computed_cells, monkeypatch):
    fit = LinearProbeTracker.fit
    fits = []

    def failing_fit(self, photos, labels):
        fits.append(len(photos))
        if len(fits) == 4:  # linear-probe's first fit in its second cell (a control and 2 users per cell)
            raise RuntimeError("out of memory in fit")
        return fit(self, photos, labels)

    monkeypatch.setattr(LinearProbeTracker, "fit", failing_fit)
    failed = run(small_lfw, tmp_path)
    assert failed.exit_code != 0 and "out of memory in fit" in failed.output
    assert len(list((tmp_path / "cells").glob("*.json"))) == 3
    monkeypatch.setattr(LinearProbeTracker, "fit", fit)
    computed_cells.clear()
    resumed = run(small_lfw, tmp_path)
    assert resumed.exit_code == 0, resumed.output
    assert computed_cells == [("linear-probe", "jpeg:quality=50")]
    assert json.loads((tmp_path / "report.json").read_text())["results"] == uninterrupted["results"]


def test_a_cell_under_other_options_is_never_reused(small_lfw, tmp_path, computed_cells):
    assert run(small_lfw, tmp_path).exit_code == 0
    computed_cells.clear()
    other = run(small_lfw, tmp_path, "--rank", "3")  # rank-k figures differ: every cell is new
    assert other.exit_code == 0, other.output
    assert len(computed_cells) == 4
    assert len(list((tmp_path / "cells").glob("*.json"))) == 8


def test_a_torn_or_foreign_cell_file_is_computed_again(tmp_path):
    store = CellStore(tmp_path)
    skip = Skip(path="Bob/Bob_0001.jpg", reason="no face found", stage="faiss (control)")
    kept = store.save("a", cell(), [skip])
    assert CellStore(tmp_path).load("a") == kept and kept.result == cell() and kept.skipped == (skip,)
    whole = (tmp_path / "a.json").read_text()
    (tmp_path / "c.json").write_text(whole.replace('"key": "a"', '"key": "c"').replace('"per_user"', '"users"'))
    (tmp_path / "a.json").write_text(whole[:len(whole) // 2])  # torn: not JSON
    (tmp_path / "b.json").write_text(whole)  # a file renamed by hand
    fresh = CellStore(tmp_path)
    assert fresh.load("a") is None and fresh.load("b") is None and fresh.reused == 0
    assert fresh.load("c") is None  # JSON, but not of a cell's shape (another version's cell)
    assert not list(tmp_path.glob("*.tmp"))


def test_the_cell_key_changes_with_everything_that_determines_the_cell(tmp_path, monkeypatch):
    from audit.checkpoints import protocol_digest
    from audit.plan import RunPlan
    from audit.protocol import Protocol, ProtocolOptions
    from audit.runner import run_cell_key

    photo = tmp_path / "Ann" / "Ann_0001.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"x" * 10)
    protocol = Protocol(train={"Ann": [photo]}, test={"Ann": [photo]}, protected=["Ann"])
    scenario, plan = ProtocolOptions(), RunPlan()

    def key(**changes) -> str:
        arguments = {"photos": protocol_digest(protocol), "scenario": scenario, "plan": plan, "cloaker_id": "noise",
                     "countermeasure_id": "none", "tracker_id": "faiss:k=1"} | changes
        return run_cell_key(**arguments)

    base = key()
    assert key() == base and base.startswith("seed0-") and "faiss" in base
    variants = [key(scenario=ProtocolOptions(seed=1)), key(plan=RunPlan(rank=2)), key(cloaker_id="noise|r2"),
                key(countermeasure_id="blur:kernel=3"), key(tracker_id="faiss:k=2")]
    photo.write_bytes(b"x" * 11)  # the data set changed
    variants.append(key())
    monkeypatch.setattr(audit.checkpoints, "code_digest", lambda: "other code")
    variants.append(key())
    assert len({base, *variants}) == len(variants) + 1
    assert all("/" not in k and ":" not in k for k in variants)


def test_the_code_digest_covers_the_computing_packages_only():
    assert set(audit.checkpoints.COMPUTING_PACKAGES) <= {p.name for p in REPO.iterdir()}
    assert "reports" not in audit.checkpoints.COMPUTING_PACKAGES
