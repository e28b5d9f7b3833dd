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
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.extractors.base import Extractor, file_sha256
from audit.face.templates import CHIP_FRAMES
from audit.options import reject_unknown, take
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


def _model_file(kind: str, positional: str | None, options: dict[str, str]) -> Path:
    path = Path(take(options, "path", None) or positional or "")
    if not positional and not path.name:
        raise ValueError(f"{kind}: give the model file, e.g. {kind}:model.{'onnx' if kind == 'onnx' else 'pt'}")
    if not path.is_file():
        raise FileNotFoundError(f"{kind}: model file {path} does not exist")
    return path


def _settings(kind: str, path: Path, options: dict[str, str], defaults: dict[str, str]
              ) -> tuple[int, str, nn.Module, dict]:
    size = take(options, "size", int(defaults["size"]), int)
    frame = take(options, "template", defaults["template"])
    pixels = take(options, "pixels", defaults["pixels"])
    reject_unknown(kind, options)
    if frame not in CHIP_FRAMES:
        raise ValueError(f"{kind}: template must be one of {', '.join(CHIP_FRAMES)}")
    if pixels not in PIXEL_RANGES:
        raise ValueError(f"{kind}: pixels must be one of {', '.join(PIXEL_RANGES)}")
    params = {"path": str(path), "size": str(size), "template": frame, "pixels": pixels}
    return size, frame, _ScalePixels(*PIXEL_RANGES[pixels]), params


def build_onnx(positional: str | None, options: dict[str, str]) -> Extractor:
    path = _model_file("onnx", positional, options)
    size, frame, scale, params = _settings("onnx", path, options, DEFAULTS)
    module = nn.Sequential(scale, OnnxModule(path))
    return Extractor("onnx", module, size, dict(CHIP_FRAMES[frame]), file_sha256(path)[:16], params=params)


def build_torchscript(positional: str | None, options: dict[str, str]) -> Extractor:
    path = _model_file("torchscript", positional, options)
    extra = {SETTINGS_FILE: ""}
    model = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    saved = json.loads(extra[SETTINGS_FILE]) if extra[SETTINGS_FILE] else {}
    size, frame, scale, params = _settings("torchscript", path, options, {**DEFAULTS, **saved})
    module = nn.Sequential(scale, model).eval()
    return Extractor("torchscript", module, size, dict(CHIP_FRAMES[frame]), file_sha256(path)[:16], params=params)


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
