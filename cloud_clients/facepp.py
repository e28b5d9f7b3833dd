"""Face++ (Megvii) over its REST API with requests: a faceset per tracker, Detect + AddFace +
SetUserID to enrol, Search to query.

Credentials: FACEPP_API_KEY and FACEPP_API_SECRET, sent as form fields (never in a URL).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import requests

from cloud_clients.calls import CallPolicy, CloudClient, CloudError, Failure, Match, PhotoRejected, check_photo
from cloud_clients.naming import decode_identity, encode_identity

REGIONS = {"us": "https://api-us.faceplusplus.com/facepp/v3", "cn": "https://api-cn.faceplusplus.com/facepp/v3"}
MAX_IMAGE_BYTES = 2 * 1024 * 1024
ADD_BATCH = 5  # face tokens per faceset/addface call, the service's maximum
MAX_RESULTS = 5  # search's return_result_count maximum
PHOTO_ERRORS = ("IMAGE_ERROR_UNSUPPORTED_FORMAT", "INVALID_IMAGE_SIZE", "IMAGE_FILE_TOO_LARGE", "INVALID_IMAGE_URL")


class FaceppError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


@dataclass
class SearchResult:
    matches: list[Match]
    thresholds: dict[str, float]  # confidence at false-accept rates "1e-3", "1e-4", "1e-5"


class FaceppClient(CloudClient):
    provider = "facepp"

    def __init__(self, region: str = "us", endpoint: str | None = None, policy: CallPolicy | None = None,
                 timeout: float = 60.0) -> None:
        super().__init__(policy)
        if region not in REGIONS:
            raise CloudError(f"facepp: region={region!r}; choose {', '.join(REGIONS)}")
        self.region = region
        self.base = (endpoint or REGIONS[region]).rstrip("/")
        key, secret = os.environ.get("FACEPP_API_KEY"), os.environ.get("FACEPP_API_SECRET")
        if not key or not secret:
            raise CloudError("facepp: set FACEPP_API_KEY and FACEPP_API_SECRET")
        self._credentials = {"api_key": key, "api_secret": secret}
        self._http = requests.Session()
        self.timeout = timeout

    @property
    def where(self) -> str:
        return self.base

    def _post(self, path: str, data: dict[str, object], image: bytes | None = None) -> dict:
        files = {"image_file": ("photo", image)} if image is not None else None
        response = self._http.post(f"{self.base}/{path}", data={**self._credentials, **data}, files=files,
                                   timeout=self.timeout)
        try:
            body = response.json()
        except ValueError:
            body = {"error_message": response.text[:200] or response.reason}
        if response.status_code != 200 or "error_message" in body:
            raise FaceppError(response.status_code, str(body.get("error_message", "")))
        return body

    def classify(self, exc: BaseException) -> Failure | None:
        if isinstance(exc, requests.Timeout):
            return Failure("transient", f"network: {exc}")
        if isinstance(exc, requests.ConnectionError):
            return Failure("permanent", f"cannot reach {self.where}")
        if not isinstance(exc, FaceppError):
            return None
        if exc.message.startswith("CONCURRENCY_LIMIT_EXCEEDED") or exc.status == 429 or exc.status >= 500:
            return Failure("transient", f"{exc.status} {exc.message}")
        if exc.message.startswith("INVALID_OUTER_ID"):
            return Failure("missing", exc.message)
        if exc.message.startswith(PHOTO_ERRORS):
            return Failure("photo", f"facepp refused the photo: {exc.message}")
        if exc.message.startswith(("AUTHENTICATION_ERROR", "AUTHORIZATION_ERROR")):
            return Failure("permanent", f"{exc.message}. Check FACEPP_API_KEY / FACEPP_API_SECRET and the region")
        return Failure("permanent", f"{exc.status} {exc.message}")

    def create_gallery(self, name: str) -> None:
        self.call("faceset/create", lambda: self._post("faceset/create", {"outer_id": name, "display_name": name}))

    def _delete(self, name: str) -> None:
        self._post("faceset/delete", {"outer_id": name, "check_empty": 0})

    def list_galleries(self) -> list[str]:
        names, start = [], 1
        while True:
            page = self.call("faceset/getfacesets", lambda: self._post("faceset/getfacesets", {"start": start}),
                             cleanup=True)
            names += [s["outer_id"] for s in page.get("facesets", []) if s.get("outer_id")]
            if not page.get("next"):
                return names
            start = int(page["next"])

    def detect(self, image: bytes) -> str:
        """The face token of the photo's largest face, or PhotoRejected."""
        check_photo(image, self.provider, MAX_IMAGE_BYTES)
        faces = self.call("detect", lambda: self._post("detect", {}, image)).get("faces", [])
        if not faces:
            raise PhotoRejected("facepp detected no face")
        return max(faces, key=lambda f: f["face_rectangle"]["width"] * f["face_rectangle"]["height"])["face_token"]

    def add_faces(self, outer_id: str, tokens: list[str]) -> None:
        if not 1 <= len(tokens) <= ADD_BATCH:
            raise ValueError(f"facepp adds 1 to {ADD_BATCH} faces a call, not {len(tokens)}")
        self.call("faceset/addface", lambda: self._post("faceset/addface",
                                                        {"outer_id": outer_id, "face_tokens": ",".join(tokens)}))

    def set_user_id(self, token: str, identity: str) -> None:
        self.call("face/setuserid", lambda: self._post("face/setuserid",
                                                       {"face_token": token, "user_id": encode_identity(identity)}))

    def search(self, outer_id: str, image: bytes, count: int) -> SearchResult:
        """The faceset's faces most like the photo's largest face, most confident first."""
        check_photo(image, self.provider, MAX_IMAGE_BYTES)
        body = self.call("search", lambda: self._post(
            "search", {"outer_id": outer_id, "return_result_count": min(count, MAX_RESULTS)}, image))
        if not body.get("faces"):
            raise PhotoRejected("facepp detected no face")
        matches = [Match(decode_identity(r["user_id"]), float(r["confidence"]))
                   for r in body.get("results", []) if r.get("user_id")]
        return SearchResult(matches, {k: float(v) for k, v in body.get("thresholds", {}).items()})
