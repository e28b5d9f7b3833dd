"""Photo → aligned chip → embedding, with a per-photo skip reason for anything unusable."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from audit.cache import Cached, EmbeddingCache, FaceCache
from audit.extractors.base import Extractor
from audit.face.align import warp_chips
from audit.face.detection import PICK_RULE_ID, Face, build_face_detector, pick_face
from audit.images import PhotoSkipped, decode_image

NO_FACE = "no face detected"
CENTRE_CROP_NOTE = "centre crop (no face detected)"
# The `centre` fallback places the chip where LFW's deep-funneled photos put the face: the
# chip's centre at this fraction of the photo's width and height, spanning this fraction of
# the photo's shorter side (medians over 150 MTCNN-aligned LFW photos).
CENTRE_CROP_CENTRE = (0.505, 0.540)
CENTRE_CROP_SPAN = 0.46


def centre_crop_matrix(shape: tuple[int, ...], size: int) -> np.ndarray:
    """The chip→photo matrix of the `centre` fallback for a photo of this shape."""
    h, w = shape[:2]
    step = CENTRE_CROP_SPAN * min(h, w) / (size - 1)
    return np.array([[step, 0.0, CENTRE_CROP_CENTRE[0] * w - step * (size - 1) / 2],
                     [0.0, step, CENTRE_CROP_CENTRE[1] * h - step * (size - 1) / 2]])


@dataclass
class EmbeddingResult:
    embeddings: np.ndarray  # N×D float32, one row per entry of `paths`
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    fallbacks: list[Path] = field(default_factory=list)  # aligned by the centre fallback


class FacePipeline:
    """Detector → one face per photo → similarity alignment → extractor.

    `fallback="centre"` aligns a photo without a detected face as a centre crop instead of
    skipping it (used by verification benchmarks, and reported as such); `aligned=True`
    treats inputs as chips already in the extractor's frame and only resizes them.
    """

    def __init__(self, extractor: Extractor, face_detector: str = "mtcnn", aligned: bool = False,
                 fallback: str = "skip", remember_faces: bool = True) -> None:
        if fallback not in ("skip", "centre"):
            raise ValueError("fallback must be 'skip' or 'centre'")
        self.extractor = extractor
        self.remember_faces = remember_faces  # False: detect every time (benchmarks, `--no-cache`)
        self.aligned = aligned
        self.fallback = fallback
        self.face_detector = None if aligned else build_face_detector(face_detector)
        self.alignment = None if aligned else extractor.alignment_for(self.face_detector.landmark_scheme)
        self.seconds = {"detect_align": 0.0, "embed": 0.0}  # where the time goes, for benchmarks

    @property
    def cache_id(self) -> str:
        e = self.extractor
        front = "aligned" if self.aligned else f"{self.detection_id}|{self.alignment.cache_id}|{self.fallback}"
        return f"{front}|{e.cache_id}|{e.weights_id}|{e.input_size}"

    @property
    def detection_id(self) -> str:
        """The detector with its options and the rule that picks the photo's subject among its faces."""
        return f"{self.face_detector.cache_id}|{PICK_RULE_ID}"

    def face(self, image: np.ndarray) -> Face | None:
        """The face this pipeline embeds in a photo (the detector's, by the pick rule), if any: detected
        once per photo and detector, then read from the face cache by any pipeline that needs it."""
        if not self.remember_faces:
            return pick_face(self.face_detector.detect(image), image.shape)
        faces, photo = FaceCache.shared(), FaceCache.photo_key(image)
        found, face = faces.get(self.detection_id, photo)
        if not found:
            face = pick_face(self.face_detector.detect(image), image.shape)
            faces.put(self.detection_id, photo, face)
        return face

    def chip_matrix(self, image: np.ndarray) -> tuple[np.ndarray, bool]:
        """The chip→photo matrix for the chosen face, and whether the centre fallback was used."""
        size = self.extractor.input_size
        face = self.face(image)
        if face is not None:
            return self.alignment.matrix(face, size), False
        if self.fallback == "skip":
            raise PhotoSkipped(NO_FACE)
        return centre_crop_matrix(image.shape, size), True

    def chip(self, image: np.ndarray) -> tuple[torch.Tensor, bool]:
        """An aligned 3×S×S float chip (0–255) from an RGB uint8 photo."""
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        size = self.extractor.input_size
        if self.aligned:
            return F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False,
                                 antialias=True)[0], False
        matrix, fallback = self.chip_matrix(image)
        return warp_chips(pixels, torch.from_numpy(matrix)[None].float(), size)[0], fallback

    def embed_files(self, paths: list[Path], cache: EmbeddingCache | None = None, batch_size: int = 32,
                    progress: bool = True, description: str = "embedding", chunk: int = 256) -> EmbeddingResult:
        """Embed photo files, reusing and filling the cache; unusable photos become skips.

        Files are read once, `chunk` at a time: hashed, looked up in the cache, and only the
        misses decoded; results reach the cache batch by batch, so an interrupted run keeps
        everything finished before it.
        """
        outcome: dict[Path, np.ndarray | str] = {}
        fallbacks: list[Path] = []
        with tqdm(total=len(paths), desc=description, unit="photo", disable=not progress) as bar:
            for start in range(0, len(paths), chunk):
                part = paths[start : start + chunk]
                outcome.update(self._embed_chunk(part, cache, batch_size, fallbacks))
                bar.update(len(part))
        kept = [p for p in paths if not isinstance(outcome[p], str)]
        skipped = [(p, outcome[p]) for p in paths if isinstance(outcome[p], str)]
        if kept:
            embeddings = np.stack([outcome[p] for p in kept]).astype(np.float32)
        else:
            embeddings = np.zeros((0, 0), np.float32)
        return EmbeddingResult(embeddings, kept, skipped, fallbacks)

    def embed_cached(self, paths: list[Path], description: str = "embedding", progress: bool = True) -> EmbeddingResult:
        """`embed_files` through the on-disk embedding cache, opened for this call."""
        with EmbeddingCache() as cache:
            return self.embed_files(paths, cache, description=description, progress=progress)

    def _embed_chunk(self, paths: list[Path], cache: EmbeddingCache | None, batch_size: int,
                     fallbacks: list[Path]) -> dict[Path, np.ndarray | str]:
        data: dict[Path, bytes] = {}
        outcome: dict[Path, np.ndarray | str] = {}
        for path in paths:
            try:
                data[path] = path.read_bytes()
            except OSError as err:
                outcome[path] = f"unreadable file ({err.strerror or err})"
        digest = {path: hashlib.sha256(raw).hexdigest() for path, raw in data.items()}
        results = cache.get_many(self.cache_id, list(set(digest.values()))) if cache else {}
        pending: list[tuple[str, torch.Tensor, str | None]] = []

        def store(new: dict[str, Cached]) -> None:
            results.update(new)
            if cache:
                cache.put_many(self.cache_id, new)

        def flush() -> None:
            began = time.perf_counter()
            vectors = self.extractor.embed(torch.stack([chip for _, chip, _ in pending]), batch_size)
            self.seconds["embed"] += time.perf_counter() - began
            store({key: Cached(vector, note) for (key, _, note), vector in zip(pending, vectors)})
            pending.clear()

        for path, key in digest.items():
            if key in results or any(key == k for k, _, _ in pending):
                continue  # cached, or the same bytes under another name
            began = time.perf_counter()
            try:
                chip, used_fallback = self.chip(decode_image(data[path]))
            except PhotoSkipped as skip:
                store({key: Cached(skip.reason)})
                continue
            finally:
                self.seconds["detect_align"] += time.perf_counter() - began
            pending.append((key, chip, CENTRE_CROP_NOTE if used_fallback else None))
            if len(pending) >= batch_size:
                flush()
        if pending:
            flush()
        for path, key in digest.items():
            outcome[path] = results[key].value
            if results[key].note == CENTRE_CROP_NOTE:
                fallbacks.append(path)
        return outcome
