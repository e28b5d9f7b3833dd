"""`rekognition`: Amazon Rekognition's face collection as the tracker."""

from __future__ import annotations

from pathlib import Path

from cloud_clients.rekognition import DEFAULT_REGION, RekognitionClient
from trackers.cloud.base import CloudTracker, first_identities


class RekognitionTracker(CloudTracker):
    """Amazon Rekognition: a face collection, IndexFaces to enrol, SearchFacesByImage to query.

    `threshold` is FaceMatchThreshold (similarity %, service default 80): a photo whose best
    match is below it is "not identified". `max_faces` matches are fetched per query (rank-k).
    """

    name = "rekognition"
    provider = "rekognition"

    def __init__(self, threshold: float = 80.0, max_faces: int = 100, region: str | None = None, **call) -> None:
        """threshold: FaceMatchThreshold, a similarity in % below which a photo is "not identified"
        max_faces: matches fetched per query, 1 to 4096 (rank-k)
        region: the AWS region (none: boto3's, else us-east-1)"""
        super().__init__(**call)
        if not 0 <= threshold <= 100:
            raise ValueError("rekognition: threshold is a similarity in % (0 to 100)")
        if not 1 <= max_faces <= 4096:
            raise ValueError("rekognition: max_faces is 1 to 4096")
        self.threshold = threshold
        self.max_faces = max_faces
        self.region = region

    @property
    def where(self) -> str:
        return self.endpoint or f"region {self.region or '(boto3 default, else ' + DEFAULT_REGION + ')'}"

    def credentials_status(self) -> str:
        import boto3

        found = boto3.session.Session().get_credentials() is not None
        return "found by boto3" if found else "none found by boto3 (environment, AWS_PROFILE, ~/.aws, instance role)"

    def connect(self) -> RekognitionClient:
        return RekognitionClient(self.region, self.endpoint, self.policy())

    def estimate_calls(self, photos: int, identities: int, queries: int) -> int:
        return 1 + photos + queries + 1

    def enroll(self, photos: list[tuple[Path, bytes, str]], skipped: dict[Path, str]) -> None:
        self.answers(photos, "enrolling", skipped, lambda p: self.client_.index_face(self.gallery_, p[1], p[2]))

    def search(self, photos: list[tuple[Path, bytes]], depth: int, skipped: dict[Path, str]) -> dict[Path, list[str]]:
        found = self.answers(photos, "searching", skipped,
                             lambda p: self.client_.search(self.gallery_, p[1], self.threshold, self.max_faces))
        return {path: first_identities(matches, depth) for (path, _), matches in found}
