"""Distractors: identities a search tracker's gallery holds besides the protocol's, never protected.

A real tracker searches a gallery of millions, most of them strangers to the user; each stranger is
one more face a query can land on. `--distractors lfw-singletons` adds LFW's 4,069 people with a
single photo (no LFW label can have fewer than two); any identity folder or CSV manifest works too.
"""

from __future__ import annotations

from pathlib import Path

from audit.datasets.folders import load_photos
from audit.datasets.lfw import resolve_dataset
from audit.protocol import rng_for

LFW_SINGLETONS = "lfw-singletons"


def load_distractors(source: str) -> dict[str, list[Path]]:
    """Identity → photos of `lfw-singletons`, an identity folder or a CSV manifest."""
    by_identity: dict[str, list[Path]] = {}
    for photo in load_photos(resolve_dataset("lfw" if source == LFW_SINGLETONS else source)):
        by_identity.setdefault(photo.identity, []).append(photo.path)
    if source == LFW_SINGLETONS:
        by_identity = {name: paths for name, paths in by_identity.items() if len(paths) == 1}
    if not by_identity:
        raise ValueError(f"--distractors {source}: no identity with a photo there")
    return by_identity


def choose_distractors(pool: dict[str, list[Path]], count: int | None, exclude: set[str],
                       source: str) -> dict[str, list[Path]]:
    """`count` identities of `pool` (None: all), leaving out `exclude` (the labels: a distractor is a stranger). The
    draw is one fixed order, so a sweep's larger galleries hold its smaller ones."""
    names = sorted(set(pool) - exclude)
    if count is None:
        count = len(names)
    if count > len(names):
        raise ValueError(f"--distractor-count {count}: {source} has {len(names)} identities outside the protocol's")
    order = rng_for(0, "distractors").permutation(len(names))[:count]
    return {names[i]: pool[names[i]] for i in sorted(order)}
