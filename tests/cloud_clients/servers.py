"""Loopback stand-ins for Rekognition, Azure Face and Face++ that speak each service's wire format
for the calls cloak-audit makes, match faces with the project's own dlib-resnet embeddings, log
every request, and inject throttling and failures on demand.

Similarity is 1 - d/2 for the embedding distance d (Rekognition and Face++ give it in %), so
a service threshold s matches the `faiss` tracker's distance threshold 2 (1 - s).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

AZURE_PREFIX = "/face/v1.2-preview.1"
FACEPP_PREFIX = "/facepp/v3"


def similarity(distance: float) -> float:
    return max(0.0, 1.0 - distance / 2.0)


def distance_for(score: float) -> float:
    """The faiss distance threshold equivalent to a service threshold (a fraction, not %)."""
    return 2.0 * (1.0 - score)


class FaceMatcher:
    """Embeds uploaded photos like the `faiss` tracker does (same pipeline, same cache)."""

    def __init__(self, workdir: Path) -> None:
        from audit.embedding.pipeline import FacePipeline
        from audit.extractors import load_extractor

        self.workdir = workdir
        self.pipeline = FacePipeline(load_extractor("dlib-resnet"))
        self.lock = threading.Lock()

    def embed(self, image: bytes) -> np.ndarray | None:
        path = self.workdir / hashlib.sha256(image).hexdigest()
        path.write_bytes(image)
        with self.lock:
            result = self.pipeline.embed_cached([path], progress=False)
        return result.embeddings[0] if result.paths else None


@dataclass
class Face:
    face_id: str
    owner: str  # external image id (Rekognition), person id (Azure), user id (Face++)
    embedding: np.ndarray


@dataclass
class Faults:
    """Throttle the next `throttle` requests (of `throttle_operation`, or any); fail
    `fail_operation` permanently once it has succeeded `fail_after` times."""

    throttle: int = 0
    throttle_operation: str | None = None
    fail_operation: str | None = None
    fail_after: int = 0
    seen: dict[str, int] = field(default_factory=dict)

    def decide(self, operation: str) -> str | None:
        if self.throttle > 0 and self.throttle_operation in (None, operation):
            self.throttle -= 1
            return "throttle"
        if operation == self.fail_operation:
            if self.seen.get(operation, 0) >= self.fail_after:
                return "fail"
        self.seen[operation] = self.seen.get(operation, 0) + 1
        return None


class Reply(Exception):
    """An HTTP answer raised from deep inside a handler (errors, mostly)."""

    def __init__(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


class LocalService(ThreadingHTTPServer):
    # One connection per request, and handler threads joined on close: no thread is left
    # embedding a photo when the test process exits.
    daemon_threads = False
    block_on_close = True
    provider = ""

    def __init__(self, matcher: FaceMatcher) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.matcher = matcher
        self.log: list[str] = []  # operations, in order
        self.headers_seen: list[dict[str, str]] = []
        self.faults = Faults()
        self.galleries: dict[str, list[Face]] = {}
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> "LocalService":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def dispatch(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                 body: bytes) -> tuple[int, object, dict[str, str]]:
        raise NotImplementedError

    def guarded(self, operation: str) -> None:
        """Log the request and apply the fault plan."""
        with self.lock:
            self.log.append(operation)
            decision = self.faults.decide(operation)
        if decision == "throttle":
            raise self.throttled()
        if decision == "fail":
            raise self.failed(operation)

    def throttled(self) -> Reply:
        raise NotImplementedError

    def failed(self, operation: str) -> Reply:
        raise NotImplementedError

    def ranked(self, gallery: str, embedding: np.ndarray) -> list[tuple[Face, float]]:
        """Every face of the gallery with its similarity, most similar first (ties: enrolment order)."""
        faces = self.galleries[gallery]
        scored = [(face, similarity(float(np.linalg.norm(face.embedding - embedding)))) for face in faces]
        return sorted(scored, key=lambda pair: -pair[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalService

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.headers_seen.append(headers)
        try:
            status, payload, extra = self.server.dispatch(self.command, parts.path, query, headers, body)
        except Reply as reply:
            status, payload, extra = reply.status, reply.body, reply.headers
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.close_connection = True
        for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)), "Connection": "close",
                           **extra}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class RekognitionService(LocalService):
    """AWS JSON 1.1: POST / with X-Amz-Target: RekognitionService.<Operation>."""

    provider = "rekognition"

    def throttled(self) -> Reply:
        return Reply(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})

    def failed(self, operation: str) -> Reply:
        return Reply(400, {"__type": "AccessDeniedException", "Message": f"injected failure in {operation}"})

    def dispatch(self, method, path, query, headers, body):
        operation = headers.get("x-amz-target", ".").split(".", 1)[1]
        self.guarded(operation)
        request = json.loads(body or b"{}")
        name = request.get("CollectionId")
        if operation == "ListCollections":
            return 200, {"CollectionIds": sorted(self.galleries), "FaceModelVersions": ["dlib"] * len(self.galleries)}, {}
        if operation == "CreateCollection":
            if name in self.galleries:
                raise Reply(400, {"__type": "ResourceAlreadyExistsException", "Message": f"{name} exists"})
            self.galleries[name] = []
            return 200, {"StatusCode": 200, "CollectionArn": f"aws:rekognition:local:collection/{name}",
                         "FaceModelVersion": "dlib"}, {}
        if name not in self.galleries:
            raise Reply(400, {"__type": "ResourceNotFoundException", "Message": f"no collection {name}"})
        if operation == "DeleteCollection":
            del self.galleries[name]
            return 200, {"StatusCode": 200}, {}
        embedding = self.matcher.embed(base64.b64decode(request["Image"]["Bytes"]))
        box = {"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25}
        if operation == "IndexFaces":
            if embedding is None:
                return 200, {"FaceRecords": [], "UnindexedFaces": [], "FaceModelVersion": "dlib"}, {}
            face = Face(str(uuid.uuid4()), request["ExternalImageId"], embedding)
            self.galleries[name].append(face)
            return 200, {"FaceRecords": [{"Face": {"FaceId": face.face_id, "ExternalImageId": face.owner,
                                                    "BoundingBox": box, "Confidence": 99.9}}],
                         "UnindexedFaces": [], "FaceModelVersion": "dlib"}, {}
        if operation == "SearchFacesByImage":
            if embedding is None:
                raise Reply(400, {"__type": "InvalidParameterException",
                                  "Message": "There are no faces in the image. Should be at least 1."})
            threshold = request.get("FaceMatchThreshold", 80.0) / 100
            matches = [{"Similarity": 100 * score, "Face": {"FaceId": face.face_id, "ExternalImageId": face.owner}}
                       for face, score in self.ranked(name, embedding) if score >= threshold]
            return 200, {"SearchedFaceBoundingBox": box, "SearchedFaceConfidence": 99.9,
                         "FaceMatches": matches[: request.get("MaxFaces", 80)], "FaceModelVersion": "dlib"}, {}
        raise Reply(400, {"__type": "UnknownOperationException", "Message": operation})


class AzureFaceService(LocalService):
    """Azure Face REST v1.2-preview.1 under /face/v1.2-preview.1: large person groups, detect, identify."""

    provider = "azure"
    FACE = {"top": 60, "left": 60, "width": 120, "height": 120}
    BYSTANDER = {"top": 10, "left": 190, "width": 40, "height": 40}

    def __init__(self, matcher: FaceMatcher) -> None:
        super().__init__(matcher)
        self.detected: dict[str, np.ndarray] = {}
        self.persons: dict[str, dict[str, str]] = {}  # group → person id → name
        self.trained: set[str] = set()
        self.crowded = False  # every photo shows a second, smaller face: AddFace then needs targetFace
        self.target_faces: list[str] = []

    def throttled(self) -> Reply:
        return Reply(429, {"error": {"code": "429", "message": "Rate limit is exceeded."}}, {"Retry-After": "0"})

    def failed(self, operation: str) -> Reply:
        return Reply(403, {"error": {"code": "UnsupportedFeature", "message": f"injected failure in {operation}: "
                                     "missing approval for Identification"}})

    @staticmethod
    def error(status: int, code: str, message: str) -> Reply:
        return Reply(status, {"error": {"code": code, "message": message}})

    def dispatch(self, method, path, query, headers, body):
        if "ocp-apim-subscription-key" not in headers:
            raise self.error(401, "401", "Access denied due to missing subscription key")
        parts = path.removeprefix(AZURE_PREFIX).strip("/").split("/")
        if parts == ["detect"]:
            self.guarded("Detect")
            embedding = self.matcher.embed(body)
            if embedding is None:
                return 200, [], {}
            face_id = str(uuid.uuid4())
            self.detected[face_id] = embedding
            faces = [{"faceId": face_id, "faceRectangle": self.FACE}]
            if self.crowded:
                faces.insert(0, {"faceId": str(uuid.uuid4()), "faceRectangle": self.BYSTANDER})
            if query.get("returnFaceId") == "false":
                faces = [{"faceRectangle": f["faceRectangle"]} for f in faces]
            return 200, faces, {}
        if parts == ["identify"]:
            self.guarded("Identify")
            return 200, self.identify(json.loads(body)), {}
        if parts == ["largepersongroups"]:
            self.guarded("ListLargePersonGroups")
            names = sorted(n for n in self.galleries if n > query.get("start", ""))[: int(query.get("top", 1000))]
            return 200, [{"largePersonGroupId": n, "name": n} for n in names], {}
        group = parts[1]
        if method == "PUT" and len(parts) == 2:
            self.guarded("CreateLargePersonGroup")
            if group in self.galleries:
                raise self.error(409, "LargePersonGroupExists", f"{group} exists")
            self.galleries[group], self.persons[group] = [], {}
            return 200, None, {}
        if group not in self.galleries:
            raise self.error(404, "LargePersonGroupNotFound", f"Large person group {group} is not found.")
        if method == "DELETE" and len(parts) == 2:
            self.guarded("DeleteLargePersonGroup")
            del self.galleries[group]
            self.persons.pop(group, None)
            self.trained.discard(group)
            return 200, None, {}
        if parts[2:] == ["persons"]:
            self.guarded("CreatePerson")
            person = str(uuid.uuid4())
            self.persons[group][person] = json.loads(body)["name"]
            return 200, {"personId": person}, {}
        if len(parts) == 5 and parts[4] == "persistedfaces":
            self.guarded("AddFace")
            if self.crowded and "targetFace" not in query:
                raise self.error(400, "InvalidImage", "There is more than 1 face in the image.")
            if "targetFace" in query:
                self.target_faces.append(query["targetFace"])
            embedding = self.matcher.embed(body)
            if embedding is None:
                raise self.error(400, "InvalidImage", "No face detected in the image or in the specified targetFace area.")
            face = Face(str(uuid.uuid4()), parts[3], embedding)
            self.galleries[group].append(face)
            self.trained.discard(group)
            return 200, {"persistedFaceId": face.face_id}, {}
        if parts[2:] == ["train"]:
            self.guarded("Train")
            self.trained.add(group)
            return 202, None, {"operation-Location": f"{self.url}{AZURE_PREFIX}/operations/{uuid.uuid4()}"}
        if parts[2:] == ["training"]:
            self.guarded("GetTrainingStatus")
            status = "succeeded" if group in self.trained else "notStarted"
            now = "2026-11-23T00:00:00Z"
            return 200, {"status": status, "createdDateTime": now, "lastActionDateTime": now,
                         "lastSuccessfulTrainingDateTime": now}, {}
        raise self.error(404, "NotFound", f"{method} {path}")

    def identify(self, request: dict) -> list[dict]:
        group = request["largePersonGroupId"]
        if group not in self.galleries:
            raise self.error(404, "LargePersonGroupNotFound", f"Large person group {group} is not found.")
        if group not in self.trained:
            raise self.error(409, "LargePersonGroupNotTrained", "Large person group not trained.")
        threshold = request.get("confidenceThreshold", 0.5)
        answers = []
        for face_id in request["faceIds"]:
            best: dict[str, float] = {}
            for face, score in self.ranked(group, self.detected[face_id]):
                best.setdefault(face.owner, score)
            candidates = [{"personId": p, "confidence": c} for p, c in best.items() if c >= threshold]
            answers.append({"faceId": face_id, "candidates": candidates[: request.get("maxNumOfCandidatesReturned", 10)]})
        return answers


class FaceppService(LocalService):
    """Face++ v3 under /facepp/v3: form posts (multipart with image_file), JSON answers."""

    provider = "facepp"
    THRESHOLDS = {"1e-3": 0.7, "1e-4": 0.75, "1e-5": 0.8}  # as similarities; sent in %

    def __init__(self, matcher: FaceMatcher) -> None:
        super().__init__(matcher)
        self.tokens: dict[str, Face] = {}

    def throttled(self) -> Reply:
        return Reply(403, {"error_message": "CONCURRENCY_LIMIT_EXCEEDED"})

    def failed(self, operation: str) -> Reply:
        return Reply(403, {"error_message": f"AUTHORIZATION_ERROR: injected failure in {operation}"})

    @staticmethod
    def form(headers: dict[str, str], body: bytes) -> dict[str, bytes]:
        kind = headers.get("content-type", "")
        if kind.startswith("multipart/"):
            message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + body)
            return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                    for part in message.iter_parts()}
        return {k: v[0].encode() for k, v in parse_qs(body.decode()).items()}

    def dispatch(self, method, path, query, headers, body):
        operation = path.removeprefix(FACEPP_PREFIX).strip("/")
        form = self.form(headers, body)
        if not form.get("api_key") or not form.get("api_secret"):
            raise Reply(401, {"error_message": "AUTHENTICATION_ERROR"})
        self.guarded(operation)
        text = {k: v.decode() for k, v in form.items() if k != "image_file"}
        outer_id = text.get("outer_id")
        if operation == "faceset/getfacesets":
            return 200, {"facesets": [{"outer_id": n, "faceset_token": n, "display_name": n} for n in sorted(self.galleries)]}, {}
        if operation == "faceset/create":
            if outer_id in self.galleries:
                raise Reply(400, {"error_message": "FACESET_EXIST"})
            self.galleries[outer_id] = []
            return 200, {"faceset_token": outer_id, "outer_id": outer_id, "face_added": 0, "face_count": 0}, {}
        if operation == "detect":
            embedding = self.matcher.embed(form["image_file"])
            if embedding is None:
                return 200, {"faces": [], "face_num": 0}, {}
            token = uuid.uuid4().hex
            self.tokens[token] = Face(token, "", embedding)
            return 200, {"faces": [{"face_token": token, "face_rectangle": {"top": 60, "left": 60, "width": 120,
                                                                             "height": 120}}], "face_num": 1}, {}
        if operation == "face/setuserid":
            if text["face_token"] not in self.tokens:
                raise Reply(400, {"error_message": "INVALID_FACE_TOKEN"})
            self.tokens[text["face_token"]].owner = text["user_id"]
            return 200, {"face_token": text["face_token"], "user_id": text["user_id"]}, {}
        if outer_id not in self.galleries:
            raise Reply(400, {"error_message": "INVALID_OUTER_ID"})
        if operation == "faceset/delete":
            del self.galleries[outer_id]
            return 200, {"faceset_token": outer_id, "outer_id": outer_id}, {}
        if operation == "faceset/addface":
            tokens = text["face_tokens"].split(",")
            if len(tokens) > 5:
                raise Reply(400, {"error_message": "BAD_ARGUMENTS: face_tokens"})
            self.galleries[outer_id] += [self.tokens[t] for t in tokens]
            return 200, {"face_added": len(tokens), "face_count": len(self.galleries[outer_id]), "failure_detail": []}, {}
        if operation == "search":
            embedding = self.matcher.embed(form["image_file"])
            if embedding is None:
                return 200, {"faces": [], "thresholds": {}}, {}
            count = int(text.get("return_result_count", 1))
            results = [{"face_token": f.face_id, "confidence": 100 * s, "user_id": f.owner}
                       for f, s in self.ranked(outer_id, embedding)[:count]]
            return 200, {"faces": [{"face_token": "query"}], "results": results,
                         "thresholds": {k: 100 * v for k, v in self.THRESHOLDS.items()}}, {}
        raise Reply(404, {"error_message": f"API_NOT_FOUND: {operation}"})


SERVICES = {"rekognition": RekognitionService, "azure": AzureFaceService, "facepp": FaceppService}
# Each tracker's threshold option at dlib's same-person distance 0.6 (similarity 0.7).
SAME_PERSON = {"rekognition": "70", "azure": "0.7", "facepp": "1e-3"}


def tracker_spec(service: LocalService, **options: object) -> str:
    """The tracker option string that points a cloud tracker at this local service, fast retries."""
    endpoint = service.url + (FACEPP_PREFIX if service.provider == "facepp" else "")
    extra = {"endpoint": endpoint, "backoff": 0.01, "threshold": SAME_PERSON[service.provider],
             **({"poll_seconds": 0.01} if service.provider == "azure" else {}), **options}
    return service.provider + ":" + ",".join(f"{k}={v}" for k, v in extra.items())
