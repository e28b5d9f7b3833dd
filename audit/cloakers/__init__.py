"""Cloaker registry: built-in cloakers plus any registered under the `cloak_audit.cloakers` entry point
(`audit.plugins.KINDS`).

A third-party package registers a `Cloaker` subclass in its pyproject.toml:

    [project.entry-points."cloak_audit.cloakers"]
    mycloak = "my_package:MyCloak"
"""

from __future__ import annotations

from audit.cloakers.base import Cloaker, ImageCloaker
from audit.cloakers.budget import Budget
from audit.cloakers.external import CommandCloak, OfficialFawkes
from audit.cloakers.fawkes import FawkesCloak
from audit.cloakers.fawkes_targeted import FawkesTargetedCloak
from audit.cloakers.lowkey import LowKeyCloak
from audit.cloakers.noise import NoiseCloak
from audit.cloakers.none import NoCloak
from audit.cloakers.precomputed import PrecomputedCloak
from audit.options import parse_sweep
from audit.plugins import build_registered, registered, registry

BUILT_IN: dict[str, type[Cloaker]] = registry(NoCloak, NoiseCloak, FawkesCloak, FawkesTargetedCloak, OfficialFawkes,
                                              LowKeyCloak, CommandCloak, PrecomputedCloak)


def build_cloakers(spec_text: str) -> list[Cloaker]:
    """One cloaker per budget of a budget sweep (`fawkes:mode=high,budget=lpips:0.02,0.04,0.12`; a limit without a
    metric takes the one before it), one cloaker for any other spec; a cloaker sweeps nothing but its budget."""
    sweep = parse_sweep(spec_text)
    others = [key for key in sweep.swept if key != "budget"]
    if others:
        raise ValueError(f"{spec_text}: one cloaker per run sweeps only its budget, not {', '.join(others)}; "
                         "run each setting of the cloaker as its own run (audit compare reads two)")
    if "budget" in sweep.swept:
        sweep.values["budget"] = [budget.spec for budget in Budget.sweep(sweep.values["budget"])]
    return [build_registered(registered("cloaker"), spec, "cloaker") for spec in sweep.specs()]


def build_cloaker(spec_text: str) -> Cloaker:
    """`none`, `noise:budget=dssim:0.007`, `fawkes:mode=high`, `fawkes-v0.3`, `precomputed:dir=DIR`, a plugin, ..."""
    built = build_cloakers(spec_text)
    if len(built) != 1:
        raise ValueError(f"{spec_text}: sweeps {len(built)} budgets; give one")
    return built[0]


__all__ = ["BUILT_IN", "Cloaker", "ImageCloaker", "build_cloaker", "build_cloakers"]
