"""What every tracker provides: enroll photos under identities, then rank identities for new photos.

scikit-learn habits: the constructor takes the options and does no work, `fit` returns the
tracker, fitted state ends in an underscore, and `close()` releases whatever `fit` created.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from audit.datasets.embedded import EmbeddedGallery
from audit.devices import check_device
from audit.embedding.pipeline import FacePipeline
from audit.extractors import ExtractorSpec
from audit.face.detection import FaceDetector
from audit.plugins import Nested, Plugin


@dataclass
class Ranking:
    """Per query photo: identities best first (empty = "no match"), or a reason it was unusable."""

    ranked: dict[Path, list[str]] = field(default_factory=dict)
    skipped: dict[Path, str] = field(default_factory=dict)

    def top(self, path: Path, k: int = 1) -> list[str]:
        return self.ranked[path][:k]


class Tracker(Plugin, ABC):
    name: ClassVar[str]
    # Whether results can be ranked beyond top-1 (search services and galleries can).
    ranks: ClassVar[bool] = True
    # Whether it searches a gallery it is handed as is, so that --distractors can join it (a local index can; a
    # classifier would train on them, a cloud service would upload them).
    searches_gallery: ClassVar[bool] = False

    @abstractmethod
    def fit(self, photos: list[Path], labels: list[str]) -> "Tracker": ...

    @abstractmethod
    def predict(self, photos: list[Path], depth: int = 1) -> Ranking: ...

    def close(self) -> None:
        """Release what `fit` created (cloud collections); nothing to do for local trackers."""

    @property
    def model(self) -> str:
        """The face model behind the tracker, as results name it (`tracker_extractor`): a service
        or a model trained on the tracker's own photos is named by the tracker."""
        return self.name

    @property
    def skipped_(self) -> dict[Path, str]:
        return getattr(self, "_fit_skipped", {})


class EmbeddingTracker(Tracker):
    """A tracker on its own face pipeline (detector → alignment → extractor), with the embedding cache.

    `extractor=None` is for a tracker that learns its own features and builds its own pipeline. The
    extractor and the face detector are nested plugins, parsed where the spec entered, so a typo fails
    before any photo is read.
    """

    renamed = {"detector": "face_detector"}
    extractor = Nested("extractor")
    face_detector = Nested("face detector")

    def __init__(self, extractor: str | ExtractorSpec | None = "dlib-resnet",
                 face_detector: str | FaceDetector = "mtcnn", device: str = "auto") -> None:
        """extractor: the face model that embeds every photo (dlib-resnet, mobilefacenet, faceres, onnx:PATH, ...)
        face_detector: the detector that finds the face it embeds (mtcnn, dlib-hog)
        device: where detection, embedding and any training run: auto (a GPU when torch sees one), cpu, cuda[:N]"""
        self.extractor = extractor
        self.face_detector = face_detector
        self.device = check_device(self.name, device)
        self._pipeline: FacePipeline | None = None

    @property
    def pipeline(self) -> FacePipeline:
        if self._pipeline is None:
            self._pipeline = FacePipeline(self.extractor.load(), face_detector=self.face_detector, device=self.device)
        return self._pipeline

    @property
    def model(self) -> str:
        return self.name if self.extractor is None else self.extractor.model_id

    def embed(self, photos: list[Path], description: str) -> tuple[np.ndarray, list[Path], dict[Path, str]]:
        result = self.pipeline.embed_cached(photos, description, progress=len(photos) > 64)
        return result.embeddings, result.paths, dict(result.skipped)

    def fit(self, photos: list[Path], labels: list[str],
            precomputed: EmbeddedGallery | None = None) -> "EmbeddingTracker":
        """Enrol the photos under their labels; a search tracker's gallery also takes `precomputed` embeddings
        as they are (distractors embedded beforehand, which must come from this tracker's extractor)."""
        if len(photos) != len(labels):
            raise ValueError(f"{len(photos)} photos but {len(labels)} labels")
        label_of = dict(zip(photos, labels))
        embeddings, kept, self._fit_skipped = self.embed(photos, f"{self.name}: enrolling")
        kept_labels = [label_of[p] for p in kept]
        if len(set(kept_labels)) < 2:
            raise ValueError(f"{self.name}: fewer than two identities have a usable training photo")
        if precomputed is None:
            self.fit_embeddings(embeddings, kept_labels)
        else:
            self.check_precomputed(precomputed)
            self.fit_gallery(precomputed, embeddings, kept_labels)
        return self

    def fit_gallery(self, gallery: EmbeddedGallery, embeddings: np.ndarray, labels: list[str]) -> None:
        """Enrol precomputed `gallery` embeddings with the photos' (what a `searches_gallery` tracker does)."""
        raise ValueError(f"{self.name}: only a search tracker's gallery takes precomputed embeddings")

    def check_precomputed(self, gallery: EmbeddedGallery) -> None:
        own = self.pipeline.extractor.embedding_id
        if gallery.embedding_id != own:
            raise ValueError(f"{self.name}: {gallery.source} holds embeddings of {gallery.embedding_id}, but this "
                             f"tracker embeds with {own}: embed the distractors with its extractor "
                             f"(audit embed DIR --extractor '{self.extractor.spec}' --out FILE.npz)")

    def predict(self, photos: list[Path], depth: int = 1) -> Ranking:
        embeddings, kept, skipped = self.embed(photos, f"{self.name}: querying")
        ranked = self.rank_embeddings(embeddings, depth) if kept else []
        return Ranking(dict(zip(kept, ranked)), skipped)

    @abstractmethod
    def fit_embeddings(self, embeddings: np.ndarray, labels: list[str]) -> None: ...

    @abstractmethod
    def rank_embeddings(self, embeddings: np.ndarray, depth: int) -> list[list[str]]: ...
