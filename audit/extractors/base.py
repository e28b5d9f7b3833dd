"""What every extractor provides: a torch module from aligned chips to embeddings, with its frame."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audit.devices import module_device
from audit.face.align import Alignment, AlignmentTemplate, BoxAlignment
from audit.options import format_spec
from audit.plugins import Plugin, revision_suffix

CPU_EMBED_BATCH, GPU_EMBED_BATCH = 16, 256  # chips per forward pass by default


def padded_to_power_of_two(batch: torch.Tensor, limit: int) -> torch.Tensor:
    """`batch` with zero rows added up to the next power of two (or `limit`), so that a GPU meets few batch shapes:
    the first pass of each new shape costs 1.0-2.7 s for mobilefacenet's and faceres's layers on an H100 (0.04-0.08 s
    for dlib-resnet's), which batches of every size from 1 to 32 would pay again and again."""
    rows = min(1 << max(len(batch) - 1, 0).bit_length(), max(limit, len(batch)))
    if rows == len(batch):
        return batch
    return torch.cat([batch, batch.new_zeros((rows - len(batch), *batch.shape[1:]))])


@dataclass
class Extractor:
    """An embedding model and the alignment it expects.

    `module` maps N×3×S×S float RGB chips in 0–255 to N×D embeddings (any normalisation lives
    inside it, so gradients flow from embeddings to pixels). `templates` gives, per landmark
    scheme, where the five points go in the chip; a model trained on detector crops gives
    `box_margin` instead. `weights_id` identifies the exact weights, so caches never mix models.
    """

    name: str
    module: nn.Module
    input_size: int
    templates: dict[str, AlignmentTemplate]
    weights_id: str
    same_person_distance: float | None = None
    box_margin: float | None = None
    params: dict[str, object] = field(default_factory=dict)  # the plugin's options, defaults included
    revision: int = 1  # the spec's `Plugin.revision`: embeddings cached under another are never reused
    channels_last: bool = False  # run in NHWC memory layout: faster on CPU for plain-convolution ResNets

    @property
    def cache_id(self) -> str:
        return format_spec(self.name, self.params) + revision_suffix(self.revision)

    @property
    def embedding_id(self) -> str:
        """The space its embeddings live in (model, options, exact weights, input size): embeddings with the
        same id are comparable wherever and however the chips were cut."""
        return f"{self.cache_id}|{self.weights_id}|{self.input_size}"

    def alignment_for(self, scheme: str) -> Alignment:
        """How to cut this model's chip from a face found by a detector with `scheme` landmarks."""
        if self.box_margin is not None:
            return BoxAlignment(self.box_margin)
        return self.template_for(scheme)

    def template_for(self, scheme: str) -> AlignmentTemplate:
        try:
            return self.templates[scheme]
        except KeyError:
            raise ValueError(f"extractor {self.name} has no template for {scheme} landmarks "
                             f"(has: {', '.join(self.templates)})") from None

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @torch.no_grad()
    def embed(self, chips: torch.Tensor, batch_size: int | None = None) -> np.ndarray:
        """N chips → N×D float32 embeddings, computed on whichever device the module is (`FacePipeline` puts it),
        `batch_size` chips a pass: by default 16 on a CPU, whose cache then holds a pass's activations (up to 2.2×
        faster per chip than passes of 64; bench/bench_embed.py), and 256 on a GPU."""
        self.module.eval()
        module = self.module.to(memory_format=self.memory_format)  # a no-op once converted
        device = module_device(module)
        batch_size = batch_size or (CPU_EMBED_BATCH if device.type == "cpu" else GPU_EMBED_BATCH)
        out = []
        for start in range(0, len(chips), batch_size):
            batch = chips[start : start + batch_size]
            padded = batch if device.type == "cpu" else padded_to_power_of_two(batch, batch_size)
            embedded = module(padded.to(device).float().contiguous(memory_format=self.memory_format))
            out.append(embedded[: len(batch)].cpu())
        if not out:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        return torch.cat(out).numpy().astype(np.float32)

    @property
    def embedding_dim(self) -> int:
        with torch.no_grad():
            probe = torch.zeros(1, 3, self.input_size, self.input_size, device=module_device(self.module))
            return int(self.module(probe).shape[1])

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Extractor({self.name}{', ' + options if options else ''}, input={self.input_size})"


class L2Normalise(nn.Module):
    """Unit-length embeddings, for models trained with a cosine (ArcFace, softmax) objective:
    Euclidean search and linear probes then compare angles, as the model was trained to."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1)


class ExtractorSpec(Plugin, ABC):
    """Which extractor, with which options. Constructing one checks the options and that named
    files exist, and reads no weights, so a bad spec fails before any photo is read; `load()`
    builds the model."""

    @abstractmethod
    def build(self) -> Extractor:
        """The extractor, weights loaded."""

    @property
    def model_id(self) -> str:
        """Which model this is, for telling white-box from transfer: the name and any option not at
        its default (`mobilefacenet`, `onnx:path=/m.onnx`), however the spec was written."""
        defaults = self.parameters()
        return format_spec(self.name, {k: v for k, v in self.params().items() if v != defaults[k].default})

    def load(self) -> Extractor:
        extractor = self.build()
        extractor.params = self.params()
        extractor.revision = self.revision
        return extractor


class WeightsFileSpec(ExtractorSpec, ABC):
    """An extractor whose only option is where its weights are (`weights=PATH`, or found itself)."""

    positional = "weights"

    def __init__(self, weights: str | None = None) -> None:
        """weights: the weights file (none: found where the model's package puts it, or fetched)"""
        existing_file(self.name, "weights file", weights)
        self.weights = weights


def existing_file(kind: str, what: str, path: str | None) -> None:
    """A clear error, before any work, for a named file that is not there."""
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"{kind}: {what} {path} does not exist")
