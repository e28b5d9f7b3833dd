"""`azure`: Azure AI Face's large person group as the tracker."""

from __future__ import annotations

import math
from pathlib import Path

from cloud_clients.azure_face import IDENTIFY_BATCH, AzureFaceClient
from trackers.cloud.base import CloudTracker, first_identities


class AzureTracker(CloudTracker):
    """Azure AI Face: a large person group (a person per identity), trained, queried with Identify.

    `threshold` is Identify's confidence threshold (0 to 1; unset: the service's own). The
    region is part of the endpoint (AZURE_FACE_ENDPOINT, or `endpoint=`). Identification is a
    Limited Access feature: the Face resource needs Microsoft's approval.
    """

    name = "azure"
    provider = "azure"
    credential_names = ("AZURE_FACE_ENDPOINT", "AZURE_FACE_KEY")

    def __init__(self, threshold: float | None = None, candidates: int = 10, detection_model: str = "detection_03",
                 recognition_model: str = "recognition_04", poll_seconds: float = 2.0, **call) -> None:
        """threshold: Identify's confidence threshold, 0 to 1 (none: the service's own)
        candidates: identities Identify returns per face, 1 to 100 (rank-k)
        detection_model: the service's face detection model
        recognition_model: the service's face recognition model
        poll_seconds: seconds between checks that the person group has trained"""
        super().__init__(**call)
        if threshold is not None and not 0 <= threshold <= 1:
            raise ValueError("azure: threshold is a confidence from 0 to 1")
        if not 1 <= candidates <= 100:
            raise ValueError("azure: candidates is 1 to 100")
        self.threshold = threshold
        self.candidates = candidates
        self.detection_model = detection_model
        self.recognition_model = recognition_model
        self.poll_seconds = poll_seconds

    @property
    def where(self) -> str:
        import os

        return self.endpoint or os.environ.get("AZURE_FACE_ENDPOINT") or "(AZURE_FACE_ENDPOINT is not set)"

    def connect(self) -> AzureFaceClient:
        return AzureFaceClient(self.endpoint, self.policy(), self.detection_model, self.recognition_model,
                               self.poll_seconds)

    def estimate_calls(self, photos: int, identities: int, queries: int) -> int:
        # create, a person each, a face each, train and ~2 status polls, detect each query, identify 10 at a time, delete
        return 1 + identities + photos + 3 + queries + math.ceil(queries / IDENTIFY_BATCH) + 1

    def enroll(self, photos: list[tuple[Path, bytes, str]], skipped: dict[Path, str]) -> None:
        self.person_of_: dict[str, str] = {}

        def add(item: tuple[Path, bytes, str]) -> None:
            _, image, identity = item
            if identity not in self.person_of_:
                self.person_of_[identity] = self.client_.create_person(self.gallery_, identity)
            self.client_.add_face(self.gallery_, self.person_of_[identity], image)

        self.answers(photos, "enrolling", skipped, add)
        self.identity_of_ = {person: identity for identity, person in self.person_of_.items()}
        self.client_.train(self.gallery_)

    def search(self, photos: list[tuple[Path, bytes]], depth: int, skipped: dict[Path, str]) -> dict[Path, list[str]]:
        face_of = {path: face for (path, _), face in self.answers(photos, "detecting", skipped,
                                                                   lambda p: self.client_.detect(p[1]))}
        paths = list(face_of)
        ranked = {}
        for start in range(0, len(paths), IDENTIFY_BATCH):
            batch = paths[start : start + IDENTIFY_BATCH]
            found = self.client_.identify(self.gallery_, [face_of[p] for p in batch], max(depth, self.candidates),
                                          self.threshold)
            for path in batch:
                matches = found.get(face_of[path], [])
                for match in matches:
                    match.identity = self.identity_of_.get(match.identity, match.identity)
                ranked[path] = first_identities(matches, depth)
        return ranked
