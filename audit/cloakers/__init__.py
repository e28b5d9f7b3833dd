"""Cloaker registry: built-in adapters plus any registered under the `cloak_audit.cloakers` entry point
(`audit.plugins.KINDS`).

A third-party package registers a `Cloaker` subclass in its pyproject.toml:

    [project.entry-points."cloak_audit.cloakers"]
    mycloak = "my_package:MyCloak"
"""

from __future__ import annotations

from audit.cloakers.base import Cloaker, ImageCloaker
from audit.cloakers.external import CommandCloak, OfficialFawkes
from audit.cloakers.fawkes import FawkesCloak
from audit.cloakers.fawkes_targeted import FawkesTargetedCloak
from audit.cloakers.lowkey import LowKeyCloak
from audit.cloakers.none import NoCloak
from audit.cloakers.noise import NoiseCloak
from audit.cloakers.precomputed import PrecomputedCloak
from audit.options import Spec, parse_spec
from audit.plugins import build_registered, construct, registered, registry, summaries

BUILT_IN: dict[str, type[Cloaker]] = registry(NoCloak, NoiseCloak, FawkesCloak, LowKeyCloak, CommandCloak,
                                              PrecomputedCloak)
FAWKES_IMPLEMENTATIONS = ("auto", "builtin", "official")


def available_cloakers() -> dict[str, str]:
    return summaries(registered("cloaker"))


def build_cloaker(spec_text: str) -> Cloaker:
    """`none`, `noise:budget=dssim:0.007`, `fawkes:mode=high,impl=auto`, `precomputed:dir=DIR`, a plugin, ..."""
    spec = parse_spec(spec_text)
    options = dict(spec.options)
    if "format" in options:  # the short spelling of output_format
        options["output_format"] = options.pop("format")
    if spec.name == "fawkes" and spec.positional is None:
        return _fawkes(options)
    return build_registered(registered("cloaker"), Spec(spec.name, spec.positional, options), "cloaker")


def _fawkes(options: dict[str, str]) -> Cloaker:
    """impl=auto runs the official command line when installed and the built-in one otherwise.

    The official tool is v1.0; `variant=v0.3` (the paper's targeted cloak) is built-in only.
    """
    impl = options.pop("impl", "auto")
    if impl not in FAWKES_IMPLEMENTATIONS:
        raise ValueError(f"fawkes: impl={impl!r}; choose {', '.join(FAWKES_IMPLEMENTATIONS)}")
    variants = {cls.variant: cls for cls in (FawkesCloak, FawkesTargetedCloak)}
    variant = options.pop("variant", FawkesCloak.variant)
    if variant not in variants:
        raise ValueError(f"fawkes: variant={variant!r}; choose {', '.join(variants)}")
    binary = options.get("binary", "fawkes")
    if impl == "official" or (impl == "auto" and variant == FawkesCloak.variant and OfficialFawkes.find(binary)):
        if variant != FawkesCloak.variant:
            raise ValueError(f"fawkes: variant={variant} is built-in only (the official command line is v1.0)")
        if OfficialFawkes.find(binary) is None:
            raise RuntimeError(f"fawkes: impl=official, but the command line {binary!r} is not installed "
                               "(the fawkes package needs Python ≤ 3.8 and TensorFlow 2.4); impl=builtin runs "
                               "cloak-audit's re-implementation")
        return construct(OfficialFawkes, "fawkes (official)", options)
    if "binary" in options:
        raise ValueError("fawkes: binary= names the official command line; the built-in cloak has none")
    return construct(variants[variant], f"fawkes {variant} (built-in)", options)


__all__ = ["Cloaker", "ImageCloaker", "available_cloakers", "build_cloaker"]
