"""The transfer matrix takes hours, so a spec it cannot parse must fail here, not at the end of a night's run:
every cloaker spec bench/transfer_matrix.sh passes to `audit run` expands into budgets that build."""

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHECK_CLOAKER = r"""
import sys
from audit.cloakers import build_cloaker
from audit.cloakers.budget import budget_sweep
spec = sys.argv[sys.argv.index("--cloaker") + 1]
built = [repr(build_cloaker(each)) for each in budget_sweep(spec)]
with open(sys.argv[1], "a") as log:
    log.write(f"{spec} -> {len(built)} cloaker(s)\n")
"""


def test_every_cloaker_spec_of_the_transfer_matrix_builds(tmp_path):
    checker = tmp_path / "check_cloaker.py"
    checker.write_text(CHECK_CLOAKER)
    built = tmp_path / "built"
    python = tmp_path / "python"  # stands in for `.venv/bin/python -m audit.cli run ...`: it only builds the cloaker
    python.write_text(f'#!/bin/sh\nshift 2\nexec "{sys.executable}" "{checker}" "{built}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "matrix"
    environment = {**os.environ, "PYTHON": str(python), "OUT": str(out), "PYTHONPATH": str(REPO)}
    subprocess.run(["bash", str(REPO / "bench" / "transfer_matrix.sh")], env=environment, check=True, timeout=300)
    runs = (out / "progress").read_text().splitlines()
    failed = [line for line in runs if not line.endswith(" exit 0")]
    assert failed == [], [(out / f"{line.split()[1]}.log").read_text() for line in failed]
    assert len(runs) == 10 and len(built.read_text().splitlines()) == 10, built.read_text()
