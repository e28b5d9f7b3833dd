"""Photo → aligned chip → embedding, with a per-photo skip reason for anything unusable."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from audit.devices import torch_device
from audit.embedding.cache import Cached, EmbeddingCache
from audit.extractors.base import Extractor
from audit.face.align import warp_chips
from audit.face.cache import FaceCache
from audit.face.detection import PICK_RULE_ID, Face, FaceDetector, build_face_detector, pick_face, same_shape
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
    treats inputs as chips already in the extractor's frame and only resizes them. `device`
    (auto, cpu, cuda[:N]) is where detection and embedding run; alignment stays on the CPU.
    """

    def __init__(self, extractor: Extractor, face_detector: str | FaceDetector = "mtcnn", aligned: bool = False,
                 fallback: str = "skip", remember_faces: bool = True, device: str = "auto") -> None:
        if fallback not in ("skip", "centre"):
            raise ValueError("fallback must be 'skip' or 'centre'")
        self.device = torch_device(device)  # the detector's and the extractor's
        extractor.module.to(self.device)
        self.extractor = extractor
        self.remember_faces = remember_faces  # False: detect every time (benchmarks, `--no-cache`)
        self.aligned = aligned
        self.fallback = fallback
        detector = build_face_detector(face_detector) if isinstance(face_detector, str) else face_detector
        self.face_detector = None if aligned else detector.to(self.device)
        self.alignment = None if aligned else extractor.alignment_for(self.face_detector.landmark_scheme)
        # where the time goes (reports' timings, benchmarks); decode counts only the wait for the decoding thread
        self.seconds = {"decode": 0.0, "detect": 0.0, "align": 0.0, "embed": 0.0}

    @property
    def cache_id(self) -> str:
        front = "aligned" if self.aligned else f"{self.detection_id}|{self.alignment.cache_id}|{self.fallback}"
        return f"{front}|{self.extractor.embedding_id}"

    @property
    def detection_id(self) -> str:
        """The detector with its options and the rule that picks the photo's subject among its faces."""
        return f"{self.face_detector.cache_id}|{PICK_RULE_ID}"

    def face(self, image: np.ndarray) -> Face | None:
        """The face this pipeline embeds in a photo (the detector's, by the pick rule), if any."""
        found = self.faces([image])[0]
        if isinstance(found, PhotoSkipped):
            raise found
        return found

    def faces(self, images: list[np.ndarray]) -> list[Face | None | PhotoSkipped]:
        """Each photo's face (None where the detector found none), or why it could not be searched.

        Detected once per photo and detector, in batches, then read from the face cache by any
        pipeline that needs it.
        """
        cache = FaceCache.shared() if self.remember_faces else None
        keys = [FaceCache.photo_key(image) for image in images] if cache else []
        known = cache.get_many(self.detection_id, keys) if cache else {}
        results: list[Face | None | PhotoSkipped] = [known.get(key) for key in keys] if cache else []
        results = results or [None] * len(images)
        missing = [i for i in range(len(images)) if not cache or keys[i] not in known]
        found: dict[str, Face | None] = {}
        for index, faces in zip(missing, self.face_detector.detect_many([images[i] for i in missing])):
            results[index] = faces if isinstance(faces, PhotoSkipped) else pick_face(faces, images[index].shape)
            if cache and not isinstance(faces, PhotoSkipped):
                found[keys[index]] = results[index]
        if found:
            cache.put_many(self.detection_id, found)
        return results

    def chip_matrices(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, bool] | PhotoSkipped]:
        """Per photo, the chip→photo matrix for the chosen face and whether the centre fallback was
        used, or why the photo is skipped."""
        size = self.extractor.input_size
        matrices: list[tuple[np.ndarray, bool] | PhotoSkipped] = []
        for image, face in zip(images, self.faces(images)):
            if isinstance(face, PhotoSkipped):
                matrices.append(face)
            elif face is not None:
                matrices.append((self.alignment.matrix(face, size), False))
            elif self.fallback == "skip":
                matrices.append(PhotoSkipped(NO_FACE))
            else:
                matrices.append((centre_crop_matrix(image.shape, size), True))
        return matrices

    def chip(self, image: np.ndarray) -> tuple[torch.Tensor, bool]:
        """An aligned 3×S×S float chip (0–255) from an RGB uint8 photo, and whether the centre fallback cut it."""
        found = self.chips([image])[0]
        if isinstance(found, PhotoSkipped):
            raise found
        return found

    def chips(self, images: list[np.ndarray]) -> list[tuple[torch.Tensor, bool] | PhotoSkipped]:
        """Each photo's chip and whether the centre fallback cut it, or why the photo is skipped:
        faces found in batches, then one warp for all the photos of one size."""
        size = self.extractor.input_size
        if self.aligned:
            return [(F.interpolate(torch.from_numpy(image).permute(2, 0, 1)[None].float(), size=(size, size),
                                   mode="bilinear", align_corners=False, antialias=True)[0], False)
                    for image in images]
        began = time.perf_counter()
        found = self.chip_matrices(images)
        self.seconds["detect"] += time.perf_counter() - began
        began = time.perf_counter()
        usable = [i for i, matrix in enumerate(found) if not isinstance(matrix, PhotoSkipped)]
        chips: list[tuple[torch.Tensor, bool] | PhotoSkipped] = list(found)
        for group in same_shape(images, usable):
            pixels = torch.from_numpy(np.stack([images[i] for i in group])).permute(0, 3, 1, 2).float()
            matrices = torch.from_numpy(np.stack([found[i][0] for i in group])).float()
            for index, chip in zip(group, warp_chips(pixels, matrices, size)):
                chips[index] = (chip, found[index][1])
        self.seconds["align"] += time.perf_counter() - began
        return chips

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
        todo = {key: data[path] for path, key in digest.items() if key not in results}  # same bytes: once
        keys = list(todo)
        batches = [keys[start : start + batch_size] for start in range(0, len(keys), batch_size)]
        decoded = decoded_ahead([[todo[key] for key in batch] for batch in batches])
        for batch in batches:
            began = time.perf_counter()
            images = next(decoded)
            self.seconds["decode"] += time.perf_counter() - began
            new = self._embed_batch(dict(zip(batch, images)))
            results.update(new)
            if cache:
                cache.put_many(self.cache_id, new)
        for path, key in digest.items():
            outcome[path] = results[key].value
            if results[key].note == CENTRE_CROP_NOTE:
                fallbacks.append(path)
        return outcome

    def _embed_batch(self, images: dict[str, np.ndarray | PhotoSkipped]) -> dict[str, Cached]:
        """Decoded photos (by content key) → chips → embeddings, together."""
        done = {key: Cached(image.reason) for key, image in images.items() if isinstance(image, PhotoSkipped)}
        decoded = {key: image for key, image in images.items() if key not in done}
        chips: dict[str, tuple[torch.Tensor, bool]] = {}
        for key, chip in zip(decoded, self.chips(list(decoded.values()))):
            if isinstance(chip, PhotoSkipped):
                done[key] = Cached(chip.reason)
            else:
                chips[key] = chip
        if chips:
            began = time.perf_counter()
            vectors = self.extractor.embed(torch.stack([chip for chip, _ in chips.values()]))
            self.seconds["embed"] += time.perf_counter() - began
            done.update({key: Cached(vector, CENTRE_CROP_NOTE if fallback else None)
                         for (key, (_, fallback)), vector in zip(chips.items(), vectors)})
        return done


def decoded_ahead(batches: list[list[bytes]]) -> Iterator[list[np.ndarray | PhotoSkipped]]:
    """Each batch of encoded photos decoded (or the skip saying why not), the next batch decoding in a
    thread while the caller works on this one: a queue one batch deep. One thread, as decoding takes a
    few percent of detecting and `decode_image`'s warning filter is process-wide."""
    with ThreadPoolExecutor(max_workers=1) as ahead:
        upcoming = ahead.submit(decode_all, batches[0]) if batches else None
        for following in [*batches[1:], None]:
            current = upcoming.result()
            upcoming = ahead.submit(decode_all, following) if following is not None else None
            yield current


def decode_all(batch: list[bytes]) -> list[np.ndarray | PhotoSkipped]:
    return [decode_or_skip(data) for data in batch]


def decode_or_skip(data: bytes) -> np.ndarray | PhotoSkipped:
    try:
        return decode_image(data)
    except PhotoSkipped as skip:
        return skip
