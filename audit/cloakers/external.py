"""Cloakers that run another program: the official Fawkes command line, or any command template."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from audit.cloakers.base import Cloaker, cloaked_name
from audit.cloakers.matching import FAWKES_V03_MODES, Copy, CopyIndex, match_copies


def run_program(argv: list[str], what: str, timeout: float | None) -> None:
    """Run argv; a missing binary, a failure or a timeout is an error that says which and why."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise RuntimeError(f"{what}: {argv[0]} was not found") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what}: {shlex.join(argv)} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{what}: {shlex.join(argv)} exited with status {done.returncode}"
                           + (":\n  " + "\n  ".join(tail) if tail else ""))


def stage(photos: list[Path], folder: Path) -> list[Path]:
    """Copy the photos into a fresh folder, where an external tool may read (and write) freely."""
    staged = []
    for photo in photos:
        shutil.copy2(photo, folder / photo.name)
        staged.append(folder / photo.name)
    return staged


def collect(photos: list[Path], produced: dict[Path, Copy], out_dir: Path, why_missing: str) -> dict[Path, Path | str]:
    """Move each photo's output (matched to the staged photo of the same name) into out_dir; a photo
    without one becomes a skip."""
    outputs = {staged.name: copy.path for staged, copy in produced.items()}
    outcome: dict[Path, Path | str] = {}
    for photo in photos:
        source = outputs.get(photo.name)
        if source is None:
            outcome[photo] = why_missing
            continue
        target = out_dir / cloaked_name(photo, source.suffix.lower())
        shutil.move(source, target)
        outcome[photo] = target
    return outcome


class OfficialFawkes(Cloaker):
    """The official Fawkes command line, where it is installed (it needs Python ≤ 3.8 and TensorFlow 2.4).

    `fawkes -d DIR --mode M --format png` writes `x_cloaked.png` (v1.0) or `x_M_cloaked.png` (v0.3.x, whose modes
    also include min and ultra) beside each photo."""

    name = "fawkes-official"
    implementation = "official"

    def __init__(self, mode: str = "low", binary: str = "fawkes", timeout: float = 3600.0) -> None:
        """mode: the tool's mode (v1.0: low, mid, high; v0.3 also min and ultra)
        binary: the command line's name on PATH, or its path
        timeout: seconds one call may take"""
        if mode not in FAWKES_V03_MODES:
            raise ValueError(f"fawkes: mode={mode!r}; choose {', '.join(FAWKES_V03_MODES)} (v1.0 knows low, mid, high)")
        if timeout <= 0:
            raise ValueError(f"fawkes: timeout={timeout} must be positive (seconds)")
        self.mode = mode
        self.binary = binary
        self.timeout = timeout

    def installed(self) -> str:
        """The command line's path; an error that says what to do when it is not installed."""
        binary = shutil.which(self.binary)
        if binary is None:
            raise RuntimeError(f"fawkes-official: the official command line {self.binary!r} is not installed "
                               "(pip install fawkes needs Python ≤ 3.8 and TensorFlow 2.4); the cloaker fawkes runs "
                               "cloak-audit's re-implementation")
        return binary

    def check(self, needed: list[Path], dataset: list[Path]) -> dict[str, object]:
        self.installed()  # before any work
        return {}

    def cloak(self, photos: list[Path], out_dir: Path) -> dict[Path, Path | str]:
        binary = self.installed()
        with tempfile.TemporaryDirectory(prefix="fawkes-") as work:
            folder = Path(work)
            staged = stage(photos, folder)
            run_program([binary, "-d", str(folder), "--mode", self.mode, "--format", "png"], "fawkes", self.timeout)
            produced = match_copies(staged, CopyIndex.of(folder), self.mode)
            return collect(photos, produced, out_dir, "fawkes wrote no cloaked copy (it found no face)")


class CommandCloak(Cloaker):
    """Any cloaker with a command line: `template` gets `{input_dir}` and `{output_dir}`.

    Outputs are matched to inputs by the naming rules of `audit.cloakers.matching` (`x_high_cloaked.*`,
    `x_cloaked.*`, `x_attacked.*` or `x.*`).
    """

    name = "command"
    implementation = "command"

    def __init__(self, template: str, timeout: float = 3600.0) -> None:
        """template: the command, with {input_dir} (the photos) and {output_dir} (where it writes the copies)
        timeout: seconds one call may take"""
        if "{input_dir}" not in template or "{output_dir}" not in template:
            raise ValueError("command: template must contain {input_dir} and {output_dir}")
        if timeout <= 0:
            raise ValueError(f"command: timeout={timeout} must be positive (seconds)")
        self.template = template
        self.timeout = timeout

    def cloak(self, photos: list[Path], out_dir: Path) -> dict[Path, Path | str]:
        with tempfile.TemporaryDirectory(prefix="cloak-in-") as given, \
                tempfile.TemporaryDirectory(prefix="cloak-out-") as written:
            staged = stage(photos, Path(given))
            argv = [part.format(input_dir=given, output_dir=written) for part in shlex.split(self.template)]
            run_program(argv, "command cloaker", self.timeout)
            produced = match_copies(staged, CopyIndex.of(Path(written)))
            return collect(photos, produced, out_dir, "the command wrote no cloaked copy")
