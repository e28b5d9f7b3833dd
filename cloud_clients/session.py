"""One run's cloud state: its id, its API-call budget, and every resource still to delete."""

from __future__ import annotations

import itertools
import logging
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager

from cloud_clients.calls import CallBudget
from cloud_clients.naming import RESOURCE_PREFIX, new_run_id

log = logging.getLogger("cloud_clients")


class _Deferral:
    """Ctrl-C held back while deletions run (main thread only). Nested blocks share one handler, so
    the process's own handler is always the one restored, and a child never inherits an ignored
    SIGINT."""

    depth = 0
    saved: object = None
    pressed = False

    @classmethod
    def hold(cls, signum: int, frame: object) -> None:
        cls.pressed = True


@contextmanager
def sigint_deferred(reraise: bool):
    """Let deletions finish even if Ctrl-C is pressed; with `reraise`, the Ctrl-C then takes effect."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _Deferral.depth == 0:
        _Deferral.pressed = False
        _Deferral.saved = signal.signal(signal.SIGINT, _Deferral.hold)
    _Deferral.depth += 1
    try:
        yield
    finally:
        _Deferral.depth -= 1
        if _Deferral.depth == 0:
            signal.signal(signal.SIGINT, _Deferral.saved)
            pressed, _Deferral.pressed = _Deferral.pressed, False
            if pressed and reraise:
                raise KeyboardInterrupt


class CloudSession:
    """Resources are named `cloak-audit-<run id>-NNN`, registered when created and deleted by
    `cleanup()` (end of run, error, Ctrl-C) if their tracker did not delete them first."""

    def __init__(self, max_api_calls: int | None = None, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.budget = CallBudget(max_api_calls)
        self._numbers = itertools.count(1)
        self._live: dict[tuple[str, str], Callable[[], None]] = {}
        self.created: list[str] = []
        self.deleted: list[str] = []
        self.leftovers: list[str] = []

    def new_name(self) -> str:
        return f"{RESOURCE_PREFIX}{self.run_id}-{next(self._numbers):03d}"

    def opened(self, provider: str, name: str, delete: Callable[[], None]) -> None:
        self._live[(provider, name)] = delete
        self.created.append(f"{provider}:{name}")

    def delete(self, provider: str, name: str) -> None:
        """Delete one resource now; a failure is logged and kept for `cleanup` to report."""
        remove = self._live.pop((provider, name), None)
        if remove is None:
            return
        with sigint_deferred(reraise=True):  # a Ctrl-C during a tracker's own deletion still stops the run
            try:
                remove()
            except Exception as err:  # noqa: BLE001 - report and carry on deleting the others
                log.error("could not delete %s %s: %s; `audit cloud cleanup --provider %s` will find it",
                          provider, name, err, provider)
                self.leftovers.append(f"{provider}:{name}")
                return
            self.deleted.append(f"{provider}:{name}")  # recorded before a held-back Ctrl-C is raised

    def cleanup(self) -> None:
        """Delete everything left; the run is ending anyway, so a Ctrl-C meanwhile is not raised."""
        with sigint_deferred(reraise=False):
            for provider, name in list(self._live):
                self.delete(provider, name)

    def record(self) -> dict:
        """What report.json says about the run's cloud use (no credential, ever)."""
        return {"run_id": self.run_id, "api_calls": dict(self.budget.used), "max_api_calls": self.budget.limit,
                "created": self.created, "deleted": self.deleted, "leftovers": self.leftovers}
