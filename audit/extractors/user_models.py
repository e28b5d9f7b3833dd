"""A user's own face model from an ONNX or TorchScript file.

Options: `size` (input side, pixels), `template` (`arcface`: the InsightFace 112×112
five-point frame; `dlib`: dlib's face-chip frame) and `pixels` (the input range the model
expects: `0..255`, `0..1` or `-1..1`). A TorchScript file saved by `save_torchscript` carries
its own settings, so `torchscript:PATH` alone loads it (the robust extractor of
`robust-retraining` is one).
"""

from __future__ import annotations

import io
import json
import warnings
from abc import ABC
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.extractors.base import Extractor, ExtractorSpec, existing_file, file_sha256
from audit.face.templates import CHIP_FRAMES
from audit.paths import atomic_write_bytes

PIXEL_RANGES = {"0..255": (0.0, 1.0), "0..1": (0.0, 255.0), "-1..1": (127.5, 127.5)}
DEFAULTS = {"size": "112", "template": "arcface", "pixels": "-1..1"}
SETTINGS_FILE = "cloak_audit.json"  # inside a TorchScript archive: the settings it was saved with


class _ScalePixels(nn.Module):
    def __init__(self, offset: float, divisor: float) -> None:
        super().__init__()
        self.offset, self.divisor = offset, divisor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.offset) / self.divisor


class OnnxModule(nn.Module):
    """Runs an ONNX model with onnxruntime (inference only: no gradients flow through it)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        try:
            import onnxruntime
        except ImportError:
            raise RuntimeError("onnx extractors need onnxruntime: pip install onnxruntime") from None
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (out, *_) = self.session.run(None, {self.input_name: x.detach().cpu().numpy().astype(np.float32)})
        return torch.from_numpy(out.reshape(len(out), -1))


def check_settings(kind: str, size: int | None, template: str | None, pixels: str | None) -> None:
    if size is not None and not 16 <= size <= 1024:
        raise ValueError(f"{kind}: size={size} must lie in 16..1024 pixels")
    if template is not None and template not in CHIP_FRAMES:
        raise ValueError(f"{kind}: template must be one of {', '.join(CHIP_FRAMES)}")
    if pixels is not None and pixels not in PIXEL_RANGES:
        raise ValueError(f"{kind}: pixels must be one of {', '.join(PIXEL_RANGES)}")


class ModelFileSpec(ExtractorSpec, ABC):
    """A model file and its frame; a setting left unset (None) comes from the file, else the defaults."""

    positional = "path"

    def __init__(self, path: str, size: int | None = None, template: str | None = None,
                 pixels: str | None = None) -> None:
        existing_file(self.name, "model file", path)
        check_settings(self.name, size, template, pixels)
        self.path = path
        self.size = size
        self.template = template
        self.pixels = pixels


class OnnxSpec(ModelFileSpec):
    """your ONNX model: onnx:PATH,size=112,template=arcface,pixels=-1..1"""

    name = "onnx"

    def __init__(self, path: str, size: int = 112, template: str = "arcface", pixels: str = "-1..1") -> None:
        super().__init__(path, size, template, pixels)

    def build(self) -> Extractor:
        module = nn.Sequential(_ScalePixels(*PIXEL_RANGES[self.pixels]), OnnxModule(Path(self.path)))
        return Extractor(self.name, module, self.size, dict(CHIP_FRAMES[self.template]), file_sha256(self.path)[:16])


class TorchscriptSpec(ModelFileSpec):
    """your TorchScript model: torchscript:PATH,size=...,template=...,pixels=... (a file saved by cloak-audit knows its own)"""

    name = "torchscript"

    def build(self) -> Extractor:
        extra = {SETTINGS_FILE: ""}
        model = torch.jit.load(self.path, map_location="cpu", _extra_files=extra)
        saved = {**DEFAULTS, **(json.loads(extra[SETTINGS_FILE]) if extra[SETTINGS_FILE] else {})}
        size = self.size or int(saved["size"])
        frame = self.template or saved["template"]
        pixels = self.pixels or saved["pixels"]
        check_settings(self.name, size, frame, pixels)
        module = nn.Sequential(_ScalePixels(*PIXEL_RANGES[pixels]), model).eval()
        return Extractor(self.name, module, size, dict(CHIP_FRAMES[frame]), file_sha256(self.path)[:16])


def save_torchscript(module: nn.Module, path: Path, size: int, template: str, pixels: str) -> None:
    """Trace `module` (N×3×size×size chips → embeddings) and save it with its settings inside."""
    if template not in CHIP_FRAMES or pixels not in PIXEL_RANGES:
        raise ValueError(f"template must be one of {', '.join(CHIP_FRAMES)}, pixels one of {', '.join(PIXEL_RANGES)}")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shapes are fixed by `size`
        traced = torch.jit.trace(module.eval(), torch.zeros(1, 3, size, size))
    buffer = io.BytesIO()
    settings = json.dumps({"size": str(size), "template": template, "pixels": pixels})
    torch.jit.save(traced, buffer, _extra_files={SETTINGS_FILE: settings})
    atomic_write_bytes(path, buffer.getvalue())
