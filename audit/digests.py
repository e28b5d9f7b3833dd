"""Seeds and content digests that every layer shares (it imports nothing of cloak-audit).

`rng_for` gives a random generator that depends only on the seed and what it is for, so adding an identity to a
data set or a user to a run never reshuffles anybody else's draw; `file_digest` is the one content hash of a file
(weights, photos, archives, embeddings), read in blocks so a large archive never sits in memory whole.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def rng_for(seed: int, *purpose: str) -> np.random.Generator:
    """A generator that depends only on the seed and what it is for."""
    digest = hashlib.sha256("\0".join((str(seed), *purpose)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def file_digest(path: str | Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """The hex digest of a file's bytes (`algorithm`: any of hashlib's; md5 where a published checksum is md5)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
