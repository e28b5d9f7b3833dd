"""A user's own face model from an ONNX or TorchScript file.

Options: `size` (input side, pixels), `template` (`arcface`: the InsightFace 112×112
five-point frame; `dlib`: dlib's face-chip frame) and `pixels` (the input range the model
expects: `0..255`, `0..1` or `-1..1`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.extractors.base import Extractor, file_sha256
from audit.face.templates import CHIP_FRAMES
from audit.options import reject_unknown, take

PIXEL_RANGES = {"0..255": (0.0, 1.0), "0..1": (0.0, 255.0), "-1..1": (127.5, 127.5)}


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


def _common(kind: str, positional: str | None, options: dict[str, str]) -> tuple[Path, int, str, nn.Module, dict]:
    path = Path(take(options, "path", None) or positional or "")
    if not positional and not path.name:
        raise ValueError(f"{kind}: give the model file, e.g. {kind}:model.{'onnx' if kind == 'onnx' else 'pt'}")
    if not path.is_file():
        raise FileNotFoundError(f"{kind}: model file {path} does not exist")
    size = take(options, "size", 112, int)
    frame = take(options, "template", "arcface")
    pixels = take(options, "pixels", "-1..1")
    reject_unknown(kind, options)
    if frame not in CHIP_FRAMES:
        raise ValueError(f"{kind}: template must be one of {', '.join(CHIP_FRAMES)}")
    if pixels not in PIXEL_RANGES:
        raise ValueError(f"{kind}: pixels must be one of {', '.join(PIXEL_RANGES)}")
    params = {"path": str(path), "size": str(size), "template": frame, "pixels": pixels}
    return path, size, frame, _ScalePixels(*PIXEL_RANGES[pixels]), params


def build_onnx(positional: str | None, options: dict[str, str]) -> Extractor:
    path, size, frame, scale, params = _common("onnx", positional, options)
    module = nn.Sequential(scale, OnnxModule(path))
    return Extractor("onnx", module, size, dict(CHIP_FRAMES[frame]), file_sha256(path)[:16], params=params)


def build_torchscript(positional: str | None, options: dict[str, str]) -> Extractor:
    path, size, frame, scale, params = _common("torchscript", positional, options)
    module = nn.Sequential(scale, torch.jit.load(str(path), map_location="cpu")).eval()
    return Extractor("torchscript", module, size, dict(CHIP_FRAMES[frame]), file_sha256(path)[:16], params=params)
