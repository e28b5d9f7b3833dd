"""Run history: every `run`, `verify` and `compare`, one row each, in SQLite in cloak-audit's user data
folder (`$AUDIT_HISTORY` names another file; never the data sets' folder, `$AUDIT_DATA`).

SQLite in WAL mode with a generous busy timeout, so runs that finish at the same moment are
all recorded intact.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from audit.paths import history_file
from audit.records import Document, read_document, to_json

KINDS = ("run", "verify", "compare")


@dataclass
class Entry:
    id: int
    kind: str
    at: str  # UTC, ISO 8601
    command: str
    cloaker: str
    trackers: str
    headline: str
    report_path: str
    report_json: str

    @property
    def report(self) -> Document:
        """The document, of whichever schema version wrote it, read as today's record (only when asked for:
        a listing never fails on an entry it cannot read)."""
        return read_document(self.kind, json.loads(self.report_json))


class History:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or history_file()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=120)
        self._initialise()

    def _initialise(self, attempts: int = 50) -> None:
        """WAL mode and the table. Switching to WAL takes an exclusive lock that SQLite does not wait
        for (no busy timeout), so two processes opening a new database at once retry here."""
        for attempt in range(attempts):
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                with self._db:
                    self._db.execute("CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                                     " kind TEXT, at TEXT, command TEXT, cloaker TEXT, trackers TEXT, headline TEXT,"
                                     " report_path TEXT, report TEXT)")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (1 + attempt % 10))

    def record(self, kind: str, report: Document, report_path: Path | str, command: str, cloaker: str,
               trackers: list[str], headline: str) -> int:
        if kind not in KINDS:
            raise ValueError(f"history kind {kind!r}; one of {', '.join(KINDS)}")
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO entries (kind, at, command, cloaker, trackers, headline, report_path, report)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, at, command, cloaker, ", ".join(trackers), headline, str(report_path),
                 json.dumps(to_json(report), default=str)))
        return int(cursor.lastrowid)

    def entries(self, limit: int | None = None) -> list[Entry]:
        rows = self._db.execute("SELECT * FROM entries ORDER BY id DESC" + (" LIMIT ?" if limit else ""),
                                (limit,) if limit else ())
        return [self._entry(row) for row in rows]

    def get(self, entry_id: int) -> Entry:
        row = self._db.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise KeyError(f"no history entry {entry_id} in {self.path}")
        return self._entry(row)

    @staticmethod
    def _entry(row: tuple) -> Entry:
        return Entry(*row)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
