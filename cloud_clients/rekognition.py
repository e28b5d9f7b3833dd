"""Amazon Rekognition through boto3: a collection per tracker, IndexFaces to enrol, SearchFacesByImage to query.

Credentials and region come from boto3's usual chain (environment, profile, config files,
instance role). boto3's own retries are off, so the shared policy alone decides.
"""

from __future__ import annotations

from cloud_clients.calls import CallPolicy, CloudClient, CloudError, Failure, Match, PhotoRejected, check_photo
from cloud_clients.naming import decode_identity, encode_identity

THROTTLING = {"ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError",
              "ServiceUnavailableException"}
PHOTO_ERRORS = {"ImageTooLargeException", "InvalidImageFormatException"}
DEFAULT_REGION = "us-east-1"
MAX_IMAGE_BYTES = 5 * 1024 * 1024


class RekognitionClient(CloudClient):
    provider = "rekognition"

    def __init__(self, region: str | None = None, endpoint: str | None = None, policy: CallPolicy | None = None) -> None:
        super().__init__(policy)
        import boto3
        from botocore.config import Config

        session = boto3.session.Session()
        self.region = region or session.region_name or DEFAULT_REGION
        self.endpoint = endpoint
        if session.get_credentials() is None:
            raise CloudError("rekognition: no AWS credentials found (boto3 looks at AWS_ACCESS_KEY_ID / "
                             "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials and instance roles)")
        config = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60)
        self._api = session.client("rekognition", region_name=self.region, endpoint_url=endpoint, config=config)

    @property
    def where(self) -> str:
        return self.endpoint or f"region {self.region}"

    def classify(self, exc: BaseException) -> Failure | None:
        from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

        if isinstance(exc, (ReadTimeoutError, ConnectionClosedError)):
            return Failure("transient", f"network: {exc}")
        if isinstance(exc, EndpointConnectionError):
            return Failure("permanent", f"cannot reach {self.where}: {exc}")
        if not isinstance(exc, ClientError):
            return None
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "") or code
        if code in THROTTLING:
            return Failure("transient", f"{code} ({message})")
        if code == "ResourceNotFoundException":
            return Failure("missing", f"{code} ({message})")
        if code in PHOTO_ERRORS:
            return Failure("photo", f"rekognition refused the photo: {code} ({message})")
        if code == "InvalidParameterException" and "face" in message.lower():
            return Failure("photo", f"rekognition found no face ({message})")
        if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException"):
            return Failure("permanent", f"{code}: {message}. Check the AWS credentials and their IAM permissions "
                                        "(rekognition:CreateCollection, IndexFaces, SearchFacesByImage, "
                                        "DeleteCollection, ListCollections)")
        return Failure("permanent", f"{code}: {message}")

    def create_gallery(self, name: str) -> None:
        self.call("CreateCollection", lambda: self._api.create_collection(CollectionId=name))

    def _delete(self, name: str) -> None:
        self._api.delete_collection(CollectionId=name)

    def list_galleries(self) -> list[str]:
        names, token = [], None
        while True:
            page = self.call("ListCollections", lambda: self._api.list_collections(
                **({"NextToken": token} if token else {})), cleanup=True)
            names += page.get("CollectionIds", [])
            token = page.get("NextToken")
            if not token:
                return names

    def index_face(self, collection: str, image: bytes, identity: str) -> str:
        """Index the largest face under the identity; the face id, or PhotoRejected when none was indexed."""
        check_photo(image, self.provider, MAX_IMAGE_BYTES)
        response = self.call("IndexFaces", lambda: self._api.index_faces(
            CollectionId=collection, Image={"Bytes": image}, ExternalImageId=encode_identity(identity), MaxFaces=1))
        records = response.get("FaceRecords", [])
        if not records:
            reasons = sorted({r for face in response.get("UnindexedFaces", []) for r in face.get("Reasons", [])})
            raise PhotoRejected("rekognition indexed no face" + (f" ({', '.join(reasons)})" if reasons else ""))
        return records[0]["Face"]["FaceId"]

    def search(self, collection: str, image: bytes, threshold: float, max_faces: int) -> list[Match]:
        """Faces like the photo's largest face, most similar first (only those at or above threshold)."""
        check_photo(image, self.provider, MAX_IMAGE_BYTES)
        response = self.call("SearchFacesByImage", lambda: self._api.search_faces_by_image(
            CollectionId=collection, Image={"Bytes": image}, FaceMatchThreshold=threshold, MaxFaces=max_faces))
        return [Match(decode_identity(m["Face"]["ExternalImageId"]), float(m["Similarity"]))
                for m in response.get("FaceMatches", [])]

