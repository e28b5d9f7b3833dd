"""The transfer matrix and the leaderboard take hours, so a spec they cannot parse must fail here, not at the end of a
night's run: every cloaker spec the scripts under bench/ pass to `audit` expands into budgets that build."""

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# stands in for `.venv/bin/python`: `-m audit.cli run|bench --cloaker C ...` only builds C (and a bench writes a
# scorecard whose cost the script reads back); `-c CODE` runs CODE for real
FAKE_PYTHON = r"""
import json, os, sys
from pathlib import Path
built, args = sys.argv[1], sys.argv[2:]
if args[0] == "-c":
    os.execv(sys.executable, [sys.executable, *args])
from audit.cloakers import build_cloakers
if "--cloaker" in args:
    spec = args[args.index("--cloaker") + 1]
    cloakers = [repr(each) for each in build_cloakers(spec)]
    with open(built, "a") as log:
        log.write(f"{spec} -> {len(cloakers)} cloaker(s)\n")
if args[2] == "bench":
    out = Path(args[args.index("--out") + 1])
    out.mkdir(parents=True)
    (out / "scorecard.json").write_text(json.dumps({"cost": {"lpips_mean": 0.02512}}))
"""


def run_script(tmp_path: Path, script: str, **environment: str) -> tuple[list[str], list[str]]:
    """Run bench/SCRIPT with the stand-in python: (its progress lines, the cloaker specs it built)."""
    checker = tmp_path / "fake_python.py"
    checker.write_text(FAKE_PYTHON)
    built = tmp_path / "built"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{checker}" "{built}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "out"
    subprocess.run(["bash", str(REPO / "bench" / script)], check=True, timeout=300,
                   env={**os.environ, "PYTHON": str(python), "OUT": str(out), "PYTHONPATH": str(REPO), **environment})
    runs = (out / "progress").read_text().splitlines()
    failed = [line for line in runs if " exit 0" not in line]
    assert failed == [], [(out / f"{line.split()[1]}.log").read_text() for line in failed]
    for stand_in in out.glob("*/scorecard.json"):  # not real scorecards: the session's schema check must not see them
        stand_in.unlink()
    return runs, [line.split(" -> ")[0] for line in built.read_text().splitlines()]


def test_every_cloaker_spec_of_the_transfer_matrix_builds(tmp_path):
    runs, specs = run_script(tmp_path, "transfer_matrix.sh")
    assert len(runs) == 10 and len(specs) == 10, specs


def test_every_leaderboard_entry_builds_and_noise_takes_fawkes_highs_measured_cost(tmp_path):
    runs, specs = run_script(tmp_path, "leaderboard.sh", BATTERY="quick")
    assert [line.split()[1] for line in runs] == ["none", "fawkes-low", "fawkes-mid", "fawkes-high",
                                                  "fawkes-ensemble", "lowkey", "noise"]
    assert specs[-1] == "noise:budget=lpips:0.0251"
