"""`facepp`: a Face++ faceset as the tracker."""

from __future__ import annotations

import math
from pathlib import Path

from cloud_clients.facepp import ADD_BATCH, MAX_RESULTS, FaceppClient
from trackers.cloud.base import CloudTracker, first_identities

FALSE_ACCEPT_RATES = ("1e-3", "1e-4", "1e-5")


class FaceppTracker(CloudTracker):
    """Face++: a faceset (Detect, AddFace 5 at a time, SetUserID) queried with Search.

    `threshold` is a false-accept rate whose confidence Search returns (1e-3, 1e-4, 1e-5), or a
    confidence from 0 to 100. Search returns at most 5 faces, so rank-k stops at 5 faces.
    `region` is us or cn.
    """

    name = "facepp"
    provider = "facepp"
    credential_names = ("FACEPP_API_KEY", "FACEPP_API_SECRET")

    def __init__(self, threshold: str = "1e-4", region: str = "us", **call) -> None:
        """threshold: a false-accept rate whose confidence Search returns (1e-3, 1e-4, 1e-5), or a confidence 0 to 100
        region: us or cn"""
        super().__init__(**call)
        if threshold not in FALSE_ACCEPT_RATES:
            try:
                value = float(threshold)
            except ValueError:
                raise ValueError(f"facepp: threshold={threshold!r}; give {', '.join(FALSE_ACCEPT_RATES)} "
                                 "or a confidence from 0 to 100") from None
            if not 0 <= value <= 100:
                raise ValueError("facepp: a confidence threshold is 0 to 100")
        if region not in ("us", "cn"):
            raise ValueError(f"facepp: region={region!r}; choose us or cn")
        self.threshold = threshold
        self.region = region

    @property
    def where(self) -> str:
        return self.endpoint or f"region {self.region}"

    def connect(self) -> FaceppClient:
        return FaceppClient(self.region, self.endpoint, self.policy())

    def estimate_calls(self, photos: int, identities: int, queries: int) -> int:
        # create, detect + set user id per photo, add 5 at a time, search per query, delete
        return 1 + 2 * photos + math.ceil(photos / ADD_BATCH) + queries + 1

    def enroll(self, photos: list[tuple[Path, bytes, str]], skipped: dict[Path, str]) -> None:
        def detect_and_name(item: tuple[Path, bytes, str]) -> str:
            _, image, identity = item
            token = self.client_.detect(image)
            self.client_.set_user_id(token, identity)
            return token

        tokens = [token for _, token in self.answers(photos, "enrolling", skipped, detect_and_name)]
        for start in range(0, len(tokens), ADD_BATCH):
            self.client_.add_faces(self.gallery_, tokens[start : start + ADD_BATCH])

    def search(self, photos: list[tuple[Path, bytes]], depth: int, skipped: dict[Path, str]) -> dict[Path, list[str]]:
        ranked = {}
        for (path, _), result in self.answers(photos, "searching", skipped,
                                              lambda p: self.client_.search(self.gallery_, p[1], MAX_RESULTS)):
            floor = result.thresholds.get(self.threshold) if self.threshold in FALSE_ACCEPT_RATES else float(self.threshold)
            if floor is None:
                raise RuntimeError(f"facepp: Search returned no threshold for {self.threshold}")
            ranked[path] = first_identities([m for m in result.matches if m.score >= floor], depth)
        return ranked
