"""Azure AI Face through azure-ai-vision-face: a large person group per tracker (persons, faces,
training), Detect for face ids and Identify to query.

Identification is a Limited Access feature on Azure: a resource without Microsoft's approval
gets 403 on Identify (and on Detect with face ids). Credentials: AZURE_FACE_ENDPOINT and
AZURE_FACE_KEY. azure-core's own retries are off, so the shared policy alone decides.
"""

from __future__ import annotations

import os
import time

from cloud_clients.calls import CallPolicy, CloudClient, CloudError, Failure, Match, PhotoRejected, check_photo

MAX_IMAGE_BYTES = 6 * 1024 * 1024
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")
IDENTIFY_BATCH = 10  # face ids per Identify call, the service's maximum
LIMITED_ACCESS = ("Azure refused face identification (403 {code}: {message}). Identification is a Limited Access "
                  "feature: the Face resource needs Microsoft's approval, see https://aka.ms/facerecognition")


class AzureFaceClient(CloudClient):
    provider = "azure"

    def __init__(self, endpoint: str | None = None, policy: CallPolicy | None = None,
                 detection_model: str = "detection_03", recognition_model: str = "recognition_04",
                 poll_seconds: float = 2.0) -> None:
        super().__init__(policy)
        from azure.ai.vision.face import FaceAdministrationClient, FaceClient
        from azure.core.credentials import AzureKeyCredential

        self.endpoint = (endpoint or os.environ.get("AZURE_FACE_ENDPOINT", "")).rstrip("/")
        key = os.environ.get("AZURE_FACE_KEY")
        if not self.endpoint:
            raise CloudError("azure: set AZURE_FACE_ENDPOINT (https://<resource>.cognitiveservices.azure.com) "
                             "or give the tracker endpoint=")
        if not key:
            raise CloudError("azure: set AZURE_FACE_KEY to the Face resource's key")
        credential = AzureKeyCredential(key)
        self.detection_model = detection_model
        self.recognition_model = recognition_model
        self.poll_seconds = poll_seconds
        self._admin = FaceAdministrationClient(self.endpoint, credential, retry_total=0)
        self._faces = FaceClient(self.endpoint, credential, retry_total=0)

    @property
    def where(self) -> str:
        return self.endpoint

    def classify(self, exc: BaseException) -> Failure | None:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

        if isinstance(exc, ServiceResponseError):
            return Failure("transient", f"network: {exc}")
        if isinstance(exc, ServiceRequestError):
            return Failure("permanent", f"cannot reach {self.where}: {exc}")
        if not isinstance(exc, HttpResponseError):
            return None
        status = exc.status_code or 0
        error = getattr(exc, "error", None)
        code, message = (getattr(error, "code", None) or str(status)), (getattr(error, "message", None) or exc.reason)
        if status == 429 or status >= 500:
            retry_after = exc.response.headers.get("Retry-After") if exc.response is not None else None
            return Failure("transient", f"{status} {code} ({message})",
                           float(retry_after) if retry_after and retry_after.replace(".", "").isdigit() else None)
        if status == 403 and code in ("UnsupportedFeature", "InvalidRequest"):
            return Failure("permanent", LIMITED_ACCESS.format(code=code, message=message))
        if status == 404:
            return Failure("missing", f"404 {code} ({message})")
        if status == 401:
            return Failure("permanent", f"401 {code}: {message}. Check AZURE_FACE_KEY and AZURE_FACE_ENDPOINT")
        if status in (400, 415) and code.startswith("InvalidImage"):
            return Failure("photo", f"azure refused the photo: {code} ({message})")
        return Failure("permanent", f"{status} {code}: {message}")

    def create_gallery(self, name: str) -> None:
        self.call("CreateLargePersonGroup", lambda: self._admin.large_person_group.create(
            large_person_group_id=name, name=name, recognition_model=self.recognition_model))

    def _delete(self, name: str) -> None:
        self._admin.large_person_group.delete(name)

    def list_galleries(self) -> list[str]:
        names: list[str] = []
        while True:
            start = names[-1] if names else None
            page = self.call("ListLargePersonGroups", lambda: self._admin.large_person_group.get_large_person_groups(
                start=start, top=1000), cleanup=True)
            names += [group.large_person_group_id for group in page]
            if len(page) < 1000:
                return names

    def create_person(self, group: str, identity: str) -> str:
        result = self.call("CreatePerson", lambda: self._admin.large_person_group.create_person(
            group, name=identity[:128]))
        return result.person_id

    def add_face(self, group: str, person_id: str, image: bytes) -> str:
        """Add the photo's face to the person; in a photo of several faces, the largest (as Rekognition
        and Face++ pick it), at the cost of one more Detect."""
        check_photo(image, self.provider, MAX_IMAGE_BYTES, IMAGE_FORMATS)
        try:
            result = self.call("AddFace", lambda: self._admin.large_person_group.add_face(
                group, person_id, image, detection_model=self.detection_model))
        except PhotoRejected as rejected:
            if "more than 1 face" not in rejected.reason:
                raise
            box = self._largest_face(image, with_id=False).face_rectangle
            target = [box.left, box.top, box.width, box.height]
            result = self.call("AddFace", lambda: self._admin.large_person_group.add_face(
                group, person_id, image, detection_model=self.detection_model, target_face=target))
        return result.persisted_face_id

    def train(self, group: str) -> None:
        """Start training and poll its status until it succeeds (each poll is a call)."""
        self.call("Train", lambda: self._admin.large_person_group.begin_train(group, polling=False))
        while True:
            status = self.call("GetTrainingStatus", lambda: self._admin.large_person_group.get_training_status(group))
            if status.status == "succeeded":
                return
            if status.status == "failed":
                raise CloudError(f"azure: training {group} failed: {status.message}")
            time.sleep(self.poll_seconds)

    def detect(self, image: bytes) -> str:
        """The face id of the photo's largest face (valid 24 h), or PhotoRejected."""
        check_photo(image, self.provider, MAX_IMAGE_BYTES, IMAGE_FORMATS)
        return self._largest_face(image, with_id=True).face_id

    def _largest_face(self, image: bytes, with_id: bool):
        faces = self.call("Detect", lambda: self._faces.detect(
            image, detection_model=self.detection_model, recognition_model=self.recognition_model,
            return_face_id=with_id))
        if not faces:
            raise PhotoRejected("azure detected no face")
        return max(faces, key=lambda f: f.face_rectangle.width * f.face_rectangle.height)

    def identify(self, group: str, face_ids: list[str], candidates: int,
                 threshold: float | None) -> dict[str, list[Match]]:
        """Per face id, the persons it may be (person ids), most confident first."""
        if not 1 <= len(face_ids) <= IDENTIFY_BATCH:
            raise ValueError(f"azure identifies 1 to {IDENTIFY_BATCH} faces a call, not {len(face_ids)}")
        results = self.call("Identify", lambda: self._faces.identify_from_large_person_group(
            face_ids=face_ids, large_person_group_id=group, max_num_of_candidates_returned=candidates,
            confidence_threshold=threshold))
        return {r.face_id: [Match(c.person_id, float(c.confidence)) for c in r.candidates] for r in results}
