"""Import facenet-pytorch without torchvision.

facenet-pytorch's MTCNN needs exactly one thing from torchvision: `ops.boxes.batched_nms`
(it also imports `transforms.functional`, used only by `extract_face`, which we never call).
The registry's torchvision is a CUDA build that fails to import on CPU torch, so when
torchvision cannot be imported we register a minimal stand-in for the duration of the import.
"""

from __future__ import annotations

import importlib
import sys
import types

import torch


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression with torchvision's semantics.

    Boxes are (x1, y1, x2, y2); a box is dropped when its IoU with a higher-scoring kept box
    exceeds `iou_threshold`; returns kept indices by decreasing score.
    """
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_threshold]
    return torch.stack(keep) if keep else torch.empty(0, dtype=torch.long)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """NMS within each group of `idxs`: boxes of different groups never suppress each other."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def _stand_in_modules() -> dict[str, types.ModuleType]:
    root = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    boxes = types.ModuleType("torchvision.ops.boxes")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    boxes.batched_nms = batched_nms
    boxes.nms = nms
    ops.boxes, root.ops, transforms.functional, root.transforms = boxes, ops, functional, transforms
    return {m.__name__: m for m in (root, ops, boxes, transforms, functional)}


def import_facenet_pytorch() -> types.ModuleType:
    """Import facenet_pytorch, with the stand-in torchvision only if the real one fails."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # missing, or a CUDA build on CPU torch (RuntimeError: torchvision::nms)
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        stand_ins = _stand_in_modules()
        sys.modules.update(stand_ins)
        try:
            return importlib.import_module("facenet_pytorch")
        finally:
            for name in stand_ins:
                sys.modules.pop(name, None)
    return importlib.import_module("facenet_pytorch")
