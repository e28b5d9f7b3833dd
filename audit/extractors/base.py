"""What every extractor provides: a torch module from aligned chips to embeddings, with its frame."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.face.align import AlignmentTemplate


@dataclass
class Extractor:
    """An embedding model and the alignment it expects.

    `module` maps N×3×S×S float RGB chips in 0–255 to N×D embeddings (any normalisation lives
    inside it, so gradients flow from embeddings to pixels). `templates` gives, per landmark
    scheme, where the five points go in the chip. `weights_id` identifies the exact weights,
    so caches never mix models.
    """

    name: str
    module: nn.Module
    input_size: int
    templates: dict[str, AlignmentTemplate]
    weights_id: str
    same_person_distance: float | None = None
    params: dict[str, str] = field(default_factory=dict)

    def template_for(self, scheme: str) -> AlignmentTemplate:
        try:
            return self.templates[scheme]
        except KeyError:
            raise ValueError(f"extractor {self.name} has no template for {scheme} landmarks "
                             f"(has: {', '.join(self.templates)})") from None

    @torch.no_grad()
    def embed(self, chips: torch.Tensor, batch_size: int = 64) -> np.ndarray:
        self.module.eval()
        out = [self.module(chips[i : i + batch_size].float()) for i in range(0, len(chips), batch_size)]
        if not out:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        return torch.cat(out).numpy().astype(np.float32)

    @property
    def embedding_dim(self) -> int:
        with torch.no_grad():
            return int(self.module(torch.zeros(1, 3, self.input_size, self.input_size)).shape[1])

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"Extractor({self.name}{', ' + options if options else ''}, input={self.input_size})"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
