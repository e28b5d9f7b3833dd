"""Extractor registry: names to `ExtractorSpec` plugins, each built from `name:key=value` options."""

from __future__ import annotations

from audit.extractors.base import Extractor, ExtractorSpec
from audit.options import format_value, parse_spec, split_top_level, unbracket
from audit.plugins import SpecValue, build_registered, registered, registry


def built_in() -> dict[str, type[ExtractorSpec]]:
    """The built-in extractors (their modules imported when first asked for)."""
    from audit.extractors.dlib_resnet import DlibResnetSpec
    from audit.extractors.facenet import FacenetCasiaSpec, FacenetVggface2Spec
    from audit.extractors.faceres import FaceResSpec
    from audit.extractors.mobilefacenet import MobileFaceNetSpec
    from audit.extractors.user_models import OnnxSpec, TorchscriptSpec

    return registry(DlibResnetSpec, MobileFaceNetSpec, FaceResSpec, FacenetVggface2Spec, FacenetCasiaSpec, OnnxSpec,
                    TorchscriptSpec)


def extractor_spec(spec_text: str) -> ExtractorSpec:
    """Check an extractor spec (name, options, files named) without loading any weights."""
    return build_registered(registered("extractor"), parse_spec(spec_text), "extractor")


class ExtractorEnsemble(SpecValue):
    """One model or several, `dlib-resnet+mobilefacenet` (written `[dlib-resnet+mobilefacenet]` inside another
    spec): what a cloak is optimised against. A member with options of its own is bracketed when it needs to be:
    `dlib-resnet+[onnx:/m.onnx,size=112]`."""

    def __init__(self, members: tuple[ExtractorSpec, ...]) -> None:
        ids = [member.model_id for member in members]
        if not members:
            raise ValueError("an extractor ensemble needs at least one model")
        if len(set(ids)) < len(ids):
            raise ValueError(f"extractor ensemble {'+'.join(ids)} names a model twice")
        self.members = members

    @classmethod
    def parse(cls, text: str) -> ExtractorEnsemble:
        """Each member checked, in order; one model is an ensemble of one."""
        members = [unbracket(part) for part in split_top_level(text, "+")]
        if any(not member for member in members):
            raise ValueError(f"extractor ensemble {text!r}: an empty member (write a+b)")
        return cls(tuple(extractor_spec(member) for member in members))

    @property
    def spec(self) -> str:
        return "+".join(format_value(member.spec) for member in self.members)

    @property
    def cache_id(self) -> str:
        return "+".join(format_value(member.cache_id) for member in self.members)

    @property
    def model_ids(self) -> list[str]:
        """Each member as `ExtractorSpec.model_id` names it (white-box against any of them)."""
        return [member.model_id for member in self.members]

    def clone(self) -> ExtractorEnsemble:
        return ExtractorEnsemble(tuple(member.clone() for member in self.members))

    def __repr__(self) -> str:
        return f"ExtractorEnsemble({self.spec!r})"


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


__all__ = ["Extractor", "ExtractorEnsemble", "ExtractorSpec", "built_in", "extractor_spec", "load_extractor",
           "models_here"]
