"""What the cloud trackers share: a gallery named for the run, enrolment and search photo by
photo as posted, per-photo skips, and deletion in `close()` (and by the run's session on error)."""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar, TypeVar

from tqdm import tqdm

from cloud_clients import CallPolicy, CloudSession, PhotoRejected
from cloud_clients.calls import CloudClient
from trackers.base import Ranking, Tracker

Item = TypeVar("Item", bound=tuple)
Answer = TypeVar("Answer")


class CloudTracker(Tracker):
    """A face-search service as the tracker: `fit` uploads the training photos, `predict` queries.

    `region`/`endpoint` say where; `rate` caps calls per second; `retries` and `backoff` bound the
    retries on throttling. The run's `CloudSession` (set with `use_session`) names the gallery,
    counts calls against `--max-api-calls` and deletes what is left on error or Ctrl-C.
    """

    provider: ClassVar[str]
    # Environment variables holding the credentials, for the dry-run summary (values never shown).
    credential_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, endpoint: str | None = None, rate: float | None = None, retries: int = 5,
                 backoff: float = 1.0) -> None:
        """endpoint: the service's address instead of its region's (a test server, a proxy)
        rate: the most calls per second (none: the service's own throttling decides)
        retries: retries of a throttled or failed call
        backoff: seconds before the first retry (doubling after each)"""
        self.endpoint = endpoint
        self.rate = rate
        self.retries = retries
        self.backoff = backoff
        self.session: CloudSession | None = None
        CallPolicy(max_retries=retries, backoff=backoff, rate=rate)  # option errors now, before any work

    def use_session(self, session: CloudSession) -> "CloudTracker":
        self.session = session
        return self

    def policy(self) -> CallPolicy:
        return CallPolicy(self.session.budget, max_retries=self.retries, backoff=self.backoff, rate=self.rate)

    def credentials_status(self) -> str:
        missing = [name for name in self.credential_names if not os.environ.get(name)]
        return f"missing {', '.join(missing)}" if missing else f"{', '.join(self.credential_names)} set"

    @property
    @abstractmethod
    def where(self) -> str:
        """Region or endpoint, for the dry-run summary."""

    @abstractmethod
    def connect(self) -> CloudClient: ...

    @abstractmethod
    def estimate_calls(self, photos: int, identities: int, queries: int) -> int:
        """API calls one fit-and-predict takes (create, enrol, query, delete), for the dry-run summary."""

    @abstractmethod
    def enroll(self, photos: list[tuple[Path, bytes, str]], skipped: dict[Path, str]) -> None:
        """Put (path, photo bytes, identity) into the gallery; the photos it refuses go to `skipped`."""

    @abstractmethod
    def search(self, photos: list[tuple[Path, bytes]], depth: int, skipped: dict[Path, str]) -> dict[Path, list[str]]:
        """Identities per query photo, best first, only matches the service counts as matches."""

    def fit(self, photos: list[Path], labels: list[str]) -> "CloudTracker":
        if len(photos) != len(labels):
            raise ValueError(f"{len(photos)} photos but {len(labels)} labels")
        if self.session is None:
            self.session = CloudSession()
        self._fit_skipped: dict[Path, str] = {}
        self.client_ = self.connect()
        self.gallery_ = self.session.new_name()
        client, gallery = self.client_, self.gallery_
        # registered first: a Ctrl-C while the service creates it must still delete it
        self.session.opened(self.provider, gallery, lambda: client.delete_gallery(gallery))
        client.create_gallery(gallery)
        readable = self.read(photos, self._fit_skipped)
        label_of = dict(zip(photos, labels))
        self.enroll([(path, image, label_of[path]) for path, image in readable], self._fit_skipped)
        enrolled = {label_of[p] for p in photos if p not in self._fit_skipped}
        if len(enrolled) < 2:
            raise ValueError(f"{self.name}: fewer than two identities have a photo the service accepted")
        return self

    def predict(self, photos: list[Path], depth: int = 1) -> Ranking:
        skipped: dict[Path, str] = {}
        ranked = self.search(self.read(photos, skipped), depth, skipped)
        return Ranking(ranked, skipped)

    def close(self) -> None:
        if getattr(self, "gallery_", None) and self.session is not None:
            self.session.delete(self.provider, self.gallery_)
        self.gallery_ = None

    @staticmethod
    def read(photos: list[Path], skipped: dict[Path, str]) -> list[tuple[Path, bytes]]:
        readable = []
        for path in photos:
            try:
                readable.append((path, path.read_bytes()))
            except OSError as err:
                skipped[path] = f"unreadable file ({err.strerror or err})"
        return readable

    def progress(self, items: list, what: str) -> Iterator:
        return iter(tqdm(items, desc=f"{self.name}: {what}", unit="photo", disable=len(items) < 16, leave=False))

    def answers(self, items: list[Item], what: str, skipped: dict[Path, str],
                request: Callable[[Item], Answer]) -> list[tuple[Item, Answer]]:
        """`request` for each (path, image, ...) item, with a progress bar; a photo the service
        refuses goes to `skipped` with its reason instead."""
        answered = []
        for item in self.progress(items, what):
            try:
                answered.append((item, request(item)))
            except PhotoRejected as rejected:
                skipped[item[0]] = rejected.reason
        return answered


def first_identities(matches: list, depth: int) -> list[str]:
    """Distinct identities in the order of their best match."""
    return list(dict.fromkeys(m.identity for m in matches))[:depth]
