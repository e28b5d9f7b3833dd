"""`audit embed`: every photo under a folder embedded (identity = the photo's folder) into an embedding file that
`audit run --distractors FILE.npz` joins as it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit.datasets import list_images
from audit.datasets.embedded import write_embeddings
from audit.embedding.cache import EmbeddingCache
from audit.embedding.pipeline import FacePipeline
from audit.extractors import ExtractorSpec
from audit.face.detection import FaceDetector


@dataclass(frozen=True)
class FolderEmbedded:
    """What `embed_folder` wrote: how many photos, out of how many files, and each one left out with why."""

    embedded: int
    files: int
    skipped: list[tuple[str, str]]  # (path under the folder, reason)


def embed_folder(input_dir: Path, out: Path, extractor: ExtractorSpec, face_detector: FaceDetector,
                 aligned: bool = False, cache: EmbeddingCache | None = None) -> FolderEmbedded:
    """Embed every photo under `input_dir` into `out` (.npz); `aligned`: the photos are chips already in the model's
    frame; without `cache`, neither the embedding nor the face cache is read or written."""
    listing = list_images(input_dir)
    if not listing.paths:
        raise FileNotFoundError(f"no photos (.jpg, .jpeg, .png, .webp) under {input_dir}"
                                + (f" ({len(listing.broken)} broken link(s))" if listing.broken else ""))
    pipeline = FacePipeline(extractor.load(), face_detector=face_detector, aligned=aligned,
                            remember_faces=cache is not None)
    result = pipeline.embed_files(listing.paths, cache)
    relative = [str(p.relative_to(input_dir)) for p in result.paths]
    identities = [p.parent.name if p.parent != input_dir else "" for p in result.paths]
    skipped = sorted((str(p.relative_to(input_dir)), reason)
                     for p, reason in [*result.skipped, *listing.broken.items()])
    write_embeddings(out, result.embeddings, relative, identities, skipped, extractor.model_id,
                     pipeline.extractor.embedding_id, pipeline.cache_id)
    return FolderEmbedded(len(result.paths), len(listing.paths) + len(listing.broken), skipped)
