"""A document read back from where a command wrote it: a run folder or its report.json, a bench folder or its
scorecard.json, each as its record, with an error that says what the path holds instead."""

from __future__ import annotations

import json
from pathlib import Path

from audit.records.run import RunReport
from audit.records.scorecard import ScoreCard
from audit.records.serialisation import read_document


def read_scorecard(path: Path) -> ScoreCard:
    """The scorecard at `path` (a bench folder or its scorecard.json); an error when it holds none."""
    card = load_scorecard(path)
    if card is None:
        raise FileNotFoundError(f"{path}: no scorecard.json (give a bench folder or its scorecard.json)")
    return card


def load_scorecard(path: Path) -> ScoreCard | None:
    """The scorecard at `path` (a bench folder or its scorecard.json), or None when it holds none."""
    file = path / "scorecard.json" if path.is_dir() else path
    if file.name != "scorecard.json" or not file.is_file():
        return None
    return read_document("scorecard", json.loads(file.read_text(encoding="utf-8")))


def load_report(path: Path) -> RunReport:
    """A run folder (its report.json) or a report file, of any schema version this code reads."""
    file = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no report.json (give a run folder or its report.json)") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{file}: not a report ({err})") from None
    if not isinstance(data, dict) or "results" not in data or "protocol" not in data:
        raise ValueError(f"{file}: not an `audit run` report (no results/protocol)")
    try:
        return read_document("run", data)
    except ValueError as err:  # RecordError: names the key
        raise ValueError(f"{file}: not a readable `audit run` report ({err})") from None
