"""`faiss`: a search engine over the enrolled photos' embeddings (what a scraping tracker runs)."""

from __future__ import annotations

import numpy as np

from audit.datasets.embedded import EmbeddedGallery
from audit.devices import torch_device
from audit.extractors import ExtractorSpec
from audit.face.detection import FaceDetector
from trackers.base import EmbeddingTracker

INDEXES = ("flat", "ivf", "hnsw")
GPU_MOST_NEIGHBOURS = 2048


class FaissTracker(EmbeddingTracker):
    """Nearest-neighbour identification over a FAISS index of training embeddings (L2).

    `k=1` names the nearest photo's identity; `k>1` takes a vote of the k nearest (ties go
    to the identity with the nearest photo). With `threshold`, photos farther away are no match,
    as a search service answers: a query with none within it is "not identified". `index=ivf` (`nlist`,
    `nprobe`) and `index=hnsw` (`m`, `ef_search`) trade exactness for speed on large galleries. Unset, `nlist`
    is 4·√N (at most N/39, FAISS's floor of training points per list) and `nprobe` nlist/20 (at least 8):
    bench_gallery.py measured recall@1 0.995 against exact search at 100,000 faces; HNSW at `ef_search=64`
    reached 0.998 at a million. On a GPU (`device`) with FAISS's GPU build, flat and IVF indexes search there.
    """

    name = "faiss"
    searches_gallery = True

    def __init__(self, index: str = "flat", k: int = 1, threshold: float | None = None, nlist: int | None = None,
                 nprobe: int | None = None, m: int = 32, ef_search: int = 64,
                 extractor: str | ExtractorSpec = "dlib-resnet", face_detector: str | FaceDetector = "mtcnn",
                 device: str = "auto") -> None:
        """index: flat (exact), ivf or hnsw (approximate, for large galleries)
        k: the nearest photos that vote for an identity (1: the nearest photo's)
        threshold: the largest distance that is still a match; farther is "not identified" (none: always a match)
        nlist: ivf's lists (none: 4·√N, at most N/39)
        nprobe: ivf's lists searched per query (none: nlist/20, at least 8)
        m: hnsw's links per node
        ef_search: hnsw's candidates per query"""
        super().__init__(extractor, face_detector, device)
        if index not in INDEXES:
            raise ValueError(f"faiss: index={index!r}; choose {', '.join(INDEXES)}")
        if k < 1:
            raise ValueError("faiss: k must be at least 1")
        if threshold is not None and threshold < 0:
            raise ValueError(f"faiss: threshold={threshold} is a distance and cannot be negative")
        if (nlist is not None and nlist < 1) or (nprobe is not None and nprobe < 1) or m < 2 or ef_search < 1:
            raise ValueError("faiss: nlist, nprobe and ef_search must be at least 1, m at least 2")
        self.index = index
        self.k = k
        self.threshold = threshold
        self.nlist = nlist
        self.nprobe = nprobe
        self.m = m
        self.ef_search = ef_search

    def fit_embeddings(self, embeddings: np.ndarray, labels: list[str]) -> None:
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        index = self.empty_index(vectors)
        index.add(vectors)
        self.index_ = self.on_gpu(index)
        self.labels_ = np.asarray(labels)

    def fit_gallery(self, gallery: EmbeddedGallery, embeddings: np.ndarray, labels: list[str]) -> None:
        """The gallery first, then the photos: the gallery's index is built once in a process and copied for each
        fit (a cell's control and per-user trackers), as a tracker indexes its gallery once and adds new photos."""
        import faiss

        index = faiss.clone_index(gallery_index(self, gallery))
        index.add(np.ascontiguousarray(embeddings, dtype=np.float32))
        self.index_ = self.on_gpu(index)
        self.labels_ = np.concatenate([gallery.identities, np.asarray(labels)])

    def empty_index(self, vectors: np.ndarray):
        """An index of this tracker's kind for `vectors`, trained on them where it needs training (IVF)."""
        import faiss

        dim = vectors.shape[1]
        if self.index == "flat":
            return faiss.IndexFlatL2(dim)
        if self.index == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.m)
            index.hnsw.efSearch = self.ef_search
            return index
        nlist = self.nlist or default_nlist(len(vectors))
        if nlist > len(vectors):
            raise ValueError(f"faiss: nlist={nlist} exceeds the {len(vectors)} enrolled photos")
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
        index.train(vectors)
        index.nprobe = min(self.nprobe or max(8, round(nlist / 20)), nlist)
        return index

    def on_gpu(self, index):
        """The index moved to the tracker's GPU when FAISS is a GPU build (`cloak-audit[gpu]`) that sees it;
        else, and for HNSW (FAISS has no GPU HNSW), the CPU index as it is."""
        import faiss

        device = torch_device(self.device)
        gpu = device.index or 0
        if device.type != "cuda" or self.index == "hnsw" or not hasattr(faiss, "StandardGpuResources") \
                or faiss.get_num_gpus() <= gpu:
            return index
        self._gpu_resources = faiss.StandardGpuResources()  # must outlive the index
        return faiss.index_cpu_to_gpu(self._gpu_resources, gpu, index)

    def rank_embeddings(self, embeddings: np.ndarray, depth: int) -> list[list[str]]:
        # enough neighbours to find `depth` distinct identities in practice, and the vote's k (FAISS's GPU
        # indexes return at most 2,048)
        wanted = min(self.index_.ntotal, max(self.k, 32 * depth), GPU_MOST_NEIGHBOURS)
        distances, neighbours = self.index_.search(np.ascontiguousarray(embeddings, dtype=np.float32), wanted)
        ranked = []
        for row_distances, row in zip(np.sqrt(np.maximum(distances, 0)), neighbours):
            valid = row >= 0  # and, with a threshold, only matches within it (as a search service answers)
            if self.threshold is not None:
                valid &= row_distances <= self.threshold
            row = row[valid]
            if len(row) == 0:
                ranked.append([])
                continue
            order = list(dict.fromkeys(self.labels_[row]))  # identities by their nearest photo
            if self.k > 1:
                votes = {name: 0 for name in order}
                for name in self.labels_[row[: self.k]]:
                    votes[name] += 1
                order.sort(key=lambda name: -votes[name])  # stable: ties keep nearest-first order
            ranked.append(order[:depth])
        return ranked


_gallery_indexes: dict[tuple, object] = {}  # the last precomputed gallery's index, for the next fit of this process


def gallery_index(tracker: FaissTracker, gallery: EmbeddedGallery):
    """`gallery`'s embeddings in an index of `tracker`'s kind (IVF lists sized and trained on the gallery alone),
    built once per process for each gallery and kind."""
    key = (gallery.digest, tracker.index, tracker.nlist, tracker.nprobe, tracker.m, tracker.ef_search)
    if key not in _gallery_indexes:
        _gallery_indexes.clear()  # one at a time: a million-face index is most of a GiB
        index = tracker.empty_index(gallery.embeddings)
        index.add(gallery.embeddings)
        _gallery_indexes[key] = index
    return _gallery_indexes[key]


def default_nlist(n: int) -> int:
    """IVF lists for n vectors: 4·√n, but at least 39 training vectors per list."""
    return max(1, min(int(4 * np.sqrt(n)), n // 39))
