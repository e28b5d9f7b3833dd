"""Embedding files (`audit embed DIR --out F.npz`): photos' embeddings, their identities and the extractor that
computed them, so a gallery embedded once (a million faces) can join later runs without its photos.

Arrays: `embeddings` (N×D float32), `paths` and `identities` (N strings; identity = the photo's folder, empty for
a photo at the top), `skipped` (M×2: path, reason), and three strings: `extractor` (its model id, as results name
it), `embedding_id` (model, options, exact weights: embeddings are comparable only within one) and `pipeline`
(the detector and alignment too, for the record).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from audit.digests import file_digest

FORMAT_FIELDS = ("embeddings", "paths", "identities", "extractor", "embedding_id")


def write_embeddings(out: Path, embeddings: np.ndarray, paths: list[str], identities: list[str],
                     skipped: list[tuple[str, str]], extractor: str, embedding_id: str, pipeline: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, embeddings=np.asarray(embeddings, dtype=np.float32), paths=np.array(paths, dtype=str),
             identities=np.array(identities, dtype=str),
             skipped=np.array(skipped, dtype=str).reshape(-1, 2), extractor=np.array(extractor),
             embedding_id=np.array(embedding_id), pipeline=np.array(pipeline))


@dataclass(frozen=True)
class EmbeddedGallery:
    """Identities' embeddings computed beforehand, joined to a search tracker's index as they are (a real
    tracker's existing index is not re-embedded, blurred or re-encoded when it meets new photos)."""

    source: str
    extractor: str  # the model id, checked against each tracker's before a run does any work
    embedding_id: str  # checked against the tracker's loaded extractor when it enrols them
    embeddings: np.ndarray  # N×D float32
    identities: np.ndarray  # N strings
    digest: str  # the file's content and the identities chosen from it: part of every cell's key

    @cached_property
    def names(self) -> list[str]:
        return sorted(set(self.identities.tolist()))

    def subset(self, names: list[str]) -> EmbeddedGallery:
        """The rows of `names`, with a digest that says which."""
        rows = np.isin(self.identities, names)
        digest = hashlib.sha256("\n".join([self.digest, *sorted(names)]).encode()).hexdigest()
        return replace(self, embeddings=self.embeddings[rows], identities=self.identities[rows], digest=digest)


def read_embedded_gallery(path: Path) -> EmbeddedGallery:
    """An embedding file as a gallery; a photo with no identity folder is a stranger of its own (named by its
    path). Fails with what is wrong: not an embedding file, one from before files named their extractor, or
    arrays that disagree."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"--distractors {path}: not a readable .npz file ({err})") from None
    missing = [name for name in FORMAT_FIELDS if name not in arrays]
    if missing:
        hint = " (written before embedding files named their extractor: run audit embed again)" \
            if "embeddings" in arrays and "extractor" in missing else " (write one with audit embed DIR --out FILE.npz)"
        raise ValueError(f"--distractors {path}: no {', '.join(missing)} in it{hint}")
    embeddings, identities, paths = arrays["embeddings"], arrays["identities"], arrays["paths"]
    if embeddings.ndim != 2 or not len(embeddings) == len(identities) == len(paths):
        raise ValueError(f"--distractors {path}: embeddings {embeddings.shape} do not match "
                         f"{len(identities)} identities and {len(paths)} paths")
    if not np.issubdtype(embeddings.dtype, np.floating) or not np.isfinite(embeddings).all():
        raise ValueError(f"--distractors {path}: embeddings must be finite floating-point numbers")
    identities = np.where(identities == "", paths, identities)
    return EmbeddedGallery(source=str(path), extractor=str(arrays["extractor"]),
                           embedding_id=str(arrays["embedding_id"]),
                           embeddings=np.ascontiguousarray(embeddings, dtype=np.float32), identities=identities,
                           digest=file_digest(path))

