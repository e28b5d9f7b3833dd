"""Distractors: identities a search tracker's gallery holds besides the protocol's, never protected.

A real tracker searches a gallery of millions, most of them strangers to the user; each stranger is
one more face a query can land on. `--distractors lfw-singletons` adds LFW's 4,069 people with a
single photo (no LFW label can have fewer than two); any identity folder or CSV manifest works too, and
so does an embedding file (`audit embed DIR --out F.npz`) for a gallery too large to embed in each run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from audit.datasets.embedded import EmbeddedGallery, read_embedded_gallery
from audit.datasets.folders import load_photos
from audit.datasets.lfw import resolve_dataset
from audit.digests import rng_for

LFW_SINGLETONS = "lfw-singletons"


@dataclass(frozen=True)
class Distractors:
    """Strangers as photos (embedded by each tracker, and transformed by countermeasures like any photo it
    scraped) or as precomputed embeddings (joined to the index as they are)."""

    photos: dict[str, list[Path]] = field(default_factory=dict)
    embedded: EmbeddedGallery | None = None
    unusable: dict[Path, str] = field(default_factory=dict)  # files among the distractors that are no photos

    @property
    def names(self) -> list[str]:
        return self.embedded.names if self.embedded is not None else sorted(self.photos)

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, names: list[str]) -> Distractors:
        if self.embedded is not None:
            return Distractors(embedded=self.embedded.subset(names))
        return Distractors(photos={name: self.photos[name] for name in names})


NO_DISTRACTORS = Distractors()


def load_distractors(source: str) -> Distractors:
    """Every distractor of `lfw-singletons`, an identity folder, a CSV manifest or an embedding file (.npz)."""
    if source.lower().endswith(".npz"):
        if not Path(source).is_file():
            raise FileNotFoundError(f"--distractors {source}: no such file")
        return Distractors(embedded=read_embedded_gallery(Path(source)))
    by_identity: dict[str, list[Path]] = {}
    dataset = load_photos(resolve_dataset("lfw" if source == LFW_SINGLETONS else source))
    for photo in dataset.photos:
        by_identity.setdefault(photo.identity, []).append(photo.path)
    if source == LFW_SINGLETONS:
        by_identity = {name: paths for name, paths in by_identity.items() if len(paths) == 1}
    if not by_identity:
        raise ValueError(f"--distractors {source}: no identity with a photo there")
    return Distractors(photos=by_identity, unusable=dataset.unusable)


def choose_distractors(pool: Distractors, count: int | None, exclude: set[str], source: str) -> Distractors:
    """`count` identities of `pool` (None: all), leaving out `exclude` (the labels: a distractor is a stranger). The
    draw is one fixed order, so a sweep's larger galleries hold its smaller ones."""
    names = sorted(set(pool.names) - exclude)
    if count is None:
        count = len(names)
    if count > len(names):
        raise ValueError(f"--distractor-count {count}: {source} has {len(names)} identities outside the protocol's")
    order = rng_for(0, "distractors").permutation(len(names))[:count]
    return pool.subset([names[i] for i in sorted(order)])
