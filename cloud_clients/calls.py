"""One policy for every API call: spend from the run's budget, keep to a rate, retry throttling.

A client turns its SDK's exceptions into a `Failure` (`classify`); the policy retries the
transient ones with exponential backoff and jitter (or the service's Retry-After) a bounded
number of times, and raises `PhotoRejected` (this photo only) or `CloudError` (stop the run)
for the rest.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeVar

log = logging.getLogger("cloud_clients")
T = TypeVar("T")


class CloudError(RuntimeError):
    """A permanent failure: the run stops (and cleans up) with this message."""


class BudgetExhausted(CloudError):
    """`--max-api-calls` is spent."""


class ResourceMissing(CloudError):
    """The gallery named in the call does not exist (a deletion treats that as done)."""


class PhotoRejected(Exception):
    """The service refused one photo (no face, too large, bad format): skip it with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Failure:
    kind: Literal["transient", "photo", "missing", "permanent"]
    message: str
    retry_after: float | None = None  # seconds the service asked us to wait


@dataclass
class Match:
    identity: str
    score: float  # the service's similarity or confidence, higher is closer


FORMATS = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF8": "GIF", b"BM": "BMP", b"RIFF": "WEBP"}


def check_photo(image: bytes, provider: str, max_bytes: int, formats: tuple[str, ...] = ("JPEG", "PNG")) -> None:
    """Refuse a photo the service would refuse (size, format), without spending a call on it."""
    if len(image) > max_bytes:
        raise PhotoRejected(f"{provider} takes photos up to {max_bytes / 1024 / 1024:g} MB; this one is "
                            f"{len(image) / 1024 / 1024:.1f} MB")
    found = next((name for magic, name in FORMATS.items() if image.startswith(magic)), "an unknown format")
    if found not in formats:
        raise PhotoRejected(f"{provider} takes {' or '.join(formats)} photos; this one is {found}")


class CallBudget:
    """API calls counted per provider across a run; calls beyond `limit` raise `BudgetExhausted`.

    Cleanup calls (deleting what the run created) are counted but never refused: a spent
    budget must not leave a collection behind.
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError("--max-api-calls must be at least 1")
        self.limit = limit
        self.used: Counter[str] = Counter()
        self._lock = threading.Lock()

    def spend(self, provider: str, operation: str, cleanup: bool = False) -> None:
        with self._lock:
            if not cleanup and self.limit is not None and self.total >= self.limit:
                raise BudgetExhausted(f"stopped before {provider} {operation}: the run has made {self.total} API calls, "
                                      f"the limit set by --max-api-calls")
            self.used[provider] += 1

    @property
    def total(self) -> int:
        return sum(self.used.values())


@dataclass
class CallPolicy:
    """Retries, backoff and rate for one client; the budget is shared by every client of a run."""

    budget: CallBudget = field(default_factory=CallBudget)
    max_retries: int = 5
    backoff: float = 1.0  # seconds before the first retry; doubles each time, with jitter
    max_backoff: float = 30.0
    rate: float | None = None  # at most this many calls per second (client-side)
    sleep: Callable[[float], None] = time.sleep
    jitter: random.Random = field(default_factory=random.Random)
    _last_call: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff < 0 or (self.rate is not None and self.rate <= 0):
            raise ValueError("retries and backoff must be ≥ 0 and rate > 0")

    def delay(self, attempt: int, failure: Failure) -> float:
        if failure.retry_after is not None:
            return min(failure.retry_after, self.max_backoff)
        return min(self.max_backoff, self.backoff * 2**attempt) * self.jitter.uniform(0.5, 1.0)

    def _keep_rate(self) -> None:
        if self.rate is not None:
            wait = self._last_call + 1.0 / self.rate - time.monotonic()
            if wait > 0:
                self.sleep(wait)
        self._last_call = time.monotonic()

    def call(self, provider: str, operation: str, request: Callable[[], T],
             classify: Callable[[BaseException], Failure | None], cleanup: bool = False) -> T:
        for attempt in range(self.max_retries + 1):
            self.budget.spend(provider, operation, cleanup)
            self._keep_rate()
            try:
                return request()
            except Exception as exc:  # noqa: BLE001 - classify decides; unknown ones propagate
                failure = classify(exc)
                if failure is None:
                    raise
            if failure.kind == "photo":
                raise PhotoRejected(failure.message)
            if failure.kind in ("permanent", "missing"):
                error = ResourceMissing if failure.kind == "missing" else CloudError
                raise error(f"{provider} {operation}: {failure.message}")
            if attempt == self.max_retries:
                break
            wait = self.delay(attempt, failure)
            log.warning("%s %s: %s; retry %d of %d in %.1f s", provider, operation, failure.message, attempt + 1,
                        self.max_retries, wait)
            self.sleep(wait)
        raise CloudError(f"{provider} {operation}: {failure.message}, still after {self.max_retries} retries; "
                         "lower the tracker's rate= option or try again later")


class CloudClient(ABC):
    """A service client: every request goes through `call`, which applies the policy."""

    provider: ClassVar[str]

    def __init__(self, policy: CallPolicy | None = None) -> None:
        self.policy = policy or CallPolicy()

    def call(self, operation: str, request: Callable[[], T], cleanup: bool = False) -> T:
        return self.policy.call(self.provider, operation, request, self.classify, cleanup)

    @abstractmethod
    def classify(self, exc: BaseException) -> Failure | None:
        """The SDK's exception as a transient, per-photo or permanent failure (None: not the service's)."""

    @abstractmethod
    def create_gallery(self, name: str) -> None: ...

    def delete_gallery(self, name: str) -> None:
        """Delete a gallery; one that does not exist (never created, already gone) counts as deleted."""
        try:
            self.call(f"Delete {name}", lambda: self._delete(name), cleanup=True)
        except ResourceMissing:
            pass

    @abstractmethod
    def _delete(self, name: str) -> None: ...

    @abstractmethod
    def list_galleries(self) -> list[str]: ...

    @property
    @abstractmethod
    def where(self) -> str:
        """Region or endpoint, for messages (never a credential)."""
