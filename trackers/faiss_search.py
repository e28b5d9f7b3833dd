"""`faiss`: a search engine over the enrolled photos' embeddings (what a scraping tracker runs)."""

from __future__ import annotations

import numpy as np

from trackers.base import EmbeddingTracker

INDEXES = ("flat", "ivf", "hnsw")


class FaissTracker(EmbeddingTracker):
    """Nearest-neighbour identification over a FAISS index of training embeddings (L2).

    `k=1` names the nearest photo's identity; `k>1` takes a vote of the k nearest (ties go
    to the identity with the nearest photo). With `threshold`, photos farther away are no match,
    as a search service answers: a query with none within it is "not identified". `index=ivf` (`nlist`, `nprobe`)
    and `index=hnsw` (`m`) trade exactness for speed on large galleries.
    """

    name = "faiss"

    def __init__(self, index: str = "flat", k: int = 1, threshold: float | None = None, nlist: int | None = None,
                 nprobe: int = 8, m: int = 32, extractor: str = "dlib-resnet", face_detector: str = "mtcnn") -> None:
        super().__init__(extractor, face_detector)
        if index not in INDEXES:
            raise ValueError(f"faiss: index={index!r}; choose {', '.join(INDEXES)}")
        if k < 1:
            raise ValueError("faiss: k must be at least 1")
        if threshold is not None and threshold < 0:
            raise ValueError(f"faiss: threshold={threshold} is a distance and cannot be negative")
        if (nlist is not None and nlist < 1) or nprobe < 1 or m < 2:
            raise ValueError("faiss: nlist and nprobe must be at least 1, m at least 2")
        self.index = index
        self.k = k
        self.threshold = threshold
        self.nlist = nlist
        self.nprobe = nprobe
        self.m = m

    def fit_embeddings(self, embeddings: np.ndarray, labels: list[str]) -> None:
        import faiss

        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        dim = vectors.shape[1]
        if self.index == "flat":
            index = faiss.IndexFlatL2(dim)
        elif self.index == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.m)
        else:
            nlist = self.nlist or max(1, int(np.sqrt(len(vectors))))
            if nlist > len(vectors):
                raise ValueError(f"faiss: nlist={nlist} exceeds the {len(vectors)} enrolled photos")
            index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
            index.train(vectors)
            index.nprobe = min(self.nprobe, nlist)
        index.add(vectors)
        self.index_ = index
        self.labels_ = np.asarray(labels)

    def rank_embeddings(self, embeddings: np.ndarray, depth: int) -> list[list[str]]:
        # enough neighbours to find `depth` distinct identities in practice, and the vote's k
        wanted = min(self.index_.ntotal, max(self.k, 32 * depth))
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
