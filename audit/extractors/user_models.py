"""A user's own face model from an ONNX or TorchScript file.

Options: `size` (input side, pixels), `template` (`arcface`: the InsightFace 112×112
five-point frame; `dlib`: dlib's face-chip frame), `margin` (for a model trained on detector crops
instead of aligned faces: the chip is the detector's box, squared, with this margin, a fraction of its
larger side; `template` is then unused) and `pixels` (the input range the model expects: `0..255`,
`0..1` or `-1..1`). A TorchScript file saved by `save_torchscript` carries
its own settings, so `torchscript:PATH` alone loads it (the robust extractor of
`robust-retraining` is one).

ONNX files from older converters (MXNet → ONNX, as many published face models are) list their
weights as graph inputs, some unused, and often fix the batch at 1: such a graph is cleaned before
onnxruntime sees it and run in batches it accepts. onnxruntime prints only errors unless
`$AUDIT_ONNX_LOG` asks for more (`warning`, `info`, `verbose`).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from abc import ABC
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.digests import file_digest
from audit.extractors.base import Extractor, ExtractorSpec, existing_file
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


ONNX_LOG_LEVELS = {"verbose": 0, "info": 1, "warning": 2, "error": 3, "fatal": 4}  # onnxruntime's severities


def onnx_log_level() -> int:
    """onnxruntime's log severity from `$AUDIT_ONNX_LOG` (default `error`: older models draw a warning per weight)."""
    level = os.environ.get("AUDIT_ONNX_LOG", "error").lower()
    if level not in ONNX_LOG_LEVELS:
        raise ValueError(f"AUDIT_ONNX_LOG={level!r}; choose {', '.join(ONNX_LOG_LEVELS)}")
    return ONNX_LOG_LEVELS[level]


def runnable_graph(path: Path) -> bytes:
    """The model with only its real inputs: older exporters list every weight as a graph input, so that
    onnxruntime demands a value for each one that has none (an unused weight they pruned) and warns about
    each one that has. Weights stay as initializers (constants); inputs and weights no node reads are dropped."""
    try:
        import onnx
    except ImportError:
        raise RuntimeError("onnx extractors need onnx and onnxruntime: pip install 'cloak-audit[onnx]'") from None
    model = onnx.load(str(path))
    graph = model.graph
    weights = {initializer.name for initializer in graph.initializer}
    read = read_names(graph) | {output.name for output in graph.output}
    real = [value for value in graph.input if value.name not in weights and value.name in read]
    used = [initializer for initializer in graph.initializer if initializer.name in read]
    del graph.input[:], graph.initializer[:]
    graph.input.extend(real)
    graph.initializer.extend(used)
    return model.SerializeToString()


def read_names(graph) -> set[str]:
    """Every value name a node of `graph` (or of a subgraph in its attributes) reads."""
    names = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in [*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs]:
                names |= read_names(subgraph)
    return names


class OnnxModule(nn.Module):
    """Runs an ONNX model with onnxruntime (inference only: no gradients flow through it), in batches of the
    size its input fixes, if it fixes one (many published models take exactly 1)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        try:
            import onnxruntime
        except ImportError:
            raise RuntimeError("onnx extractors need onnx and onnxruntime: pip install 'cloak-audit[onnx]'") from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = onnx_log_level()
        self.session = onnxruntime.InferenceSession(runnable_graph(path), options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"onnx: {path} takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                             "a face model takes one batch of images")
        self.input_name = inputs[0].name
        batch = inputs[0].shape[0] if inputs[0].shape else None
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.detach().cpu().numpy().astype(np.float32)
        step = self.fixed_batch or max(len(images), 1)
        outputs = []
        for start in range(0, len(images), step):
            part = images[start : start + step]
            padded = np.concatenate([part, np.zeros((step - len(part), *part.shape[1:]), np.float32)])
            (out, *_) = self.session.run(None, {self.input_name: padded})
            outputs.append(out[: len(part)].reshape(len(part), -1))
        return torch.from_numpy(np.concatenate(outputs)) if outputs else torch.zeros(0, 0)


def check_settings(kind: str, size: int | None, template: str | None, pixels: str | None,
                   margin: float | None = None) -> None:
    if size is not None and not 16 <= size <= 1024:
        raise ValueError(f"{kind}: size={size} must lie in 16..1024 pixels")
    if template is not None and template not in CHIP_FRAMES:
        raise ValueError(f"{kind}: template must be one of {', '.join(CHIP_FRAMES)}")
    if margin is not None and not 0 <= margin <= 1:
        raise ValueError(f"{kind}: margin={margin} must lie in 0..1 (a fraction of the face box)")
    if pixels is not None and pixels not in PIXEL_RANGES:
        raise ValueError(f"{kind}: pixels must be one of {', '.join(PIXEL_RANGES)}")


class ModelFileSpec(ExtractorSpec, ABC):
    """A model file and its frame; a setting left unset (None) comes from the file, else the defaults."""

    positional = "path"

    def __init__(self, path: str, size: int | None = None, template: str | None = None,
                 pixels: str | None = None, margin: float | None = None) -> None:
        """path: the model file
        size: the chip's side in pixels the model reads (none: the file's own, else 112)
        template: the five-point frame faces are aligned to: arcface or dlib (none: the file's own)
        pixels: the range the model reads pixels in: 0..1, -1..1 or 0..255 (none: the file's own)
        margin: a detector crop widened by this share of the face box on each side, instead of an aligned chip
          (for models trained on crops)"""
        existing_file(self.name, "model file", path)
        check_settings(self.name, size, template, pixels, margin)
        self.path = path
        self.size = size
        self.template = template
        self.pixels = pixels
        self.margin = margin


class OnnxSpec(ModelFileSpec):
    """your ONNX model: onnx:PATH,size=112,template=arcface,pixels=-1..1 (or margin=0.1 for detector crops)"""

    name = "onnx"

    def __init__(self, path: str, size: int = 112, template: str = "arcface", pixels: str = "-1..1",
                 margin: float | None = None) -> None:
        """size: the chip's side in pixels the model reads
        template: the five-point frame faces are aligned to: arcface or dlib
        pixels: the range the model reads pixels in: 0..1, -1..1 or 0..255"""
        super().__init__(path, size, template, pixels, margin)

    def build(self) -> Extractor:
        module = nn.Sequential(_ScalePixels(*PIXEL_RANGES[self.pixels]), OnnxModule(Path(self.path)))
        return Extractor(self.name, module, self.size, dict(CHIP_FRAMES[self.template]), file_digest(self.path)[:16],
                         box_margin=self.margin)


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
        margin = self.margin
        if margin is None and self.template is None and "margin" in saved:  # an explicit template overrides it
            margin = float(saved["margin"])
        check_settings(self.name, size, frame, pixels, margin)
        module = nn.Sequential(_ScalePixels(*PIXEL_RANGES[pixels]), model).eval()
        return Extractor(self.name, module, size, dict(CHIP_FRAMES[frame]), file_digest(self.path)[:16],
                         box_margin=margin)


def save_torchscript(module: nn.Module, path: Path, size: int, template: str | None, pixels: str,
                     margin: float | None = None) -> None:
    """Trace `module` (N×3×size×size chips → embeddings) and save it with its settings inside: the chips are
    aligned to `template`, or (`margin`) detector crops with that margin."""
    if (template is None) == (margin is None):
        raise ValueError("save_torchscript: give either a template or a margin")
    check_settings("save_torchscript", size, template, pixels, margin)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shapes are fixed by `size`
        traced = torch.jit.trace(module.eval(), torch.zeros(1, 3, size, size))
    buffer = io.BytesIO()
    frame = {"template": template} if margin is None else {"margin": str(margin)}
    settings = json.dumps({"size": str(size), "pixels": pixels, **frame})
    torch.jit.save(traced, buffer, _extra_files={SETTINGS_FILE: settings})
    atomic_write_bytes(path, buffer.getvalue())


def save_torchscript_like(module: nn.Module, extractor: Extractor, path: Path) -> None:
    """Save `module`, a retrained copy of `extractor`'s, with its input size and chip frame (0–255 pixels in)."""
    if extractor.box_margin is not None:
        save_torchscript(module, path, extractor.input_size, None, "0..255", extractor.box_margin)
        return
    frame = next((name for name, frame in CHIP_FRAMES.items() if frame == extractor.templates), None)
    if frame is None:
        raise ValueError(f"extractor {extractor.name} uses a chip frame TorchScript settings cannot name")
    save_torchscript(module, path, extractor.input_size, frame, "0..255")
