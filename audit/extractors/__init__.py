"""Extractor registry: names to `ExtractorSpec` plugins, each built from `name:key=value` options."""

from __future__ import annotations

from audit.extractors.base import Extractor, ExtractorSpec
from audit.options import parse_spec, split_top_level, unbracket
from audit.plugins import build_registered, registered, registry, summaries


def built_in() -> dict[str, type[ExtractorSpec]]:
    """The built-in extractors (their modules imported when first asked for)."""
    from audit.extractors.dlib_resnet import DlibResnetSpec
    from audit.extractors.faceres import FaceResSpec
    from audit.extractors.facenet import FacenetCasiaSpec, FacenetVggface2Spec
    from audit.extractors.mobilefacenet import MobileFaceNetSpec
    from audit.extractors.user_models import OnnxSpec, TorchscriptSpec

    return registry(DlibResnetSpec, MobileFaceNetSpec, FaceResSpec, FacenetVggface2Spec, FacenetCasiaSpec, OnnxSpec,
                    TorchscriptSpec)


def available_extractors() -> dict[str, str]:
    return summaries(registered("extractor"))


def extractor_spec(spec_text: str) -> ExtractorSpec:
    """Check an extractor spec (name, options, files named) without loading any weights."""
    return build_registered(registered("extractor"), parse_spec(spec_text), "extractor")


def ensemble_specs(text: str) -> list[ExtractorSpec]:
    """`dlib-resnet+mobilefacenet` (written `[dlib-resnet+mobilefacenet]` inside another spec) → each
    member checked, in order; one model is an ensemble of one. A member with options is bracketed:
    `dlib-resnet+[faceres:margin=0.2]`."""
    members = [unbracket(part) for part in split_top_level(text, "+")]
    if any(not member for member in members):
        raise ValueError(f"extractor ensemble {text!r}: an empty member (write a+b)")
    specs = [extractor_spec(member) for member in members]
    seen = [spec.model_id for spec in specs]
    if len(set(seen)) < len(seen):
        raise ValueError(f"extractor ensemble {text!r} names a model twice")
    return specs


def models_here(names: tuple[str, ...] | list[str]) -> tuple[list[str], dict[str, str]]:
    """Which of these models this machine has (or fetches), and why each other one cannot be had."""
    here, missing = [], {}
    for name in names:
        try:
            load_extractor(name)
        except (RuntimeError, FileNotFoundError, ValueError) as err:
            missing[name] = str(err)
            continue
        here.append(name)
    return here, missing


def load_extractor(spec_text: str) -> Extractor:
    """Build an extractor from `name[:options]`, e.g. `dlib-resnet` or `onnx:model.onnx,size=112`."""
    return extractor_spec(spec_text).load()


__all__ = ["Extractor", "ExtractorSpec", "available_extractors", "built_in", "models_here", "ensemble_specs", "extractor_spec", "load_extractor"]
