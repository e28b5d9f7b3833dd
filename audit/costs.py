"""What a cloak costs the photo: measured per cloaked copy (a skip when the copy is unreadable or
resized), summed up per run or per verified person. Every cost is measured on the whole photo at its own
size, as posted: DSSIM, PSNR, L2, L∞ and LPIPS (AlexNet, v0.1; left out, with a warning, only where its
weights can be neither found nor fetched)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from audit.images import PhotoSkipped, read_image
from audit.perceptual import COST_METRICS, PerceptualCost, perceptual_cost
from audit.records import Perturbation, Skip

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _lpips_missing() -> str | None:
    """Why LPIPS cannot be measured here (its weights are nowhere and cannot be fetched), or None."""
    from audit.lpips import load_lpips

    try:
        load_lpips()
    except (RuntimeError, FileNotFoundError, ValueError) as err:
        log.warning("LPIPS left out of the perceptual costs: %s", err)
        return str(err)
    return None


def measured_cost(original: np.ndarray, cloaked: np.ndarray) -> PerceptualCost:
    """Every metric of one cloaked photo against its original."""
    cost = perceptual_cost(original, cloaked)
    return cost if _lpips_missing() else replace(cost, lpips=COST_METRICS["lpips"].on_photo(original, cloaked))


def cost_or_reason(original: Path, cloaked: Path) -> PerceptualCost | str:
    """DSSIM, PSNR, L2, Linf and LPIPS of one cloaked copy, or why it cannot be compared with its original."""
    try:
        return measured_cost(read_image(original), read_image(cloaked))
    except PhotoSkipped as skip:
        return f"cloaked copy unreadable: {skip.reason}"
    except ValueError as err:  # a cloaker that changed the photo's size
        return str(err)


def kept_cost(cost: PerceptualCost | str | None, cloaked: Path, skipped: list[Skip]) -> PerceptualCost | None:
    """A measured cost; a reason it could not be measured becomes a recorded skip of `cloaked` (and None)."""
    if isinstance(cost, str):
        skipped.append(Skip(path=str(cloaked), reason=cost, stage="cloak"))
        return None
    return cost


def measure_cost(original: Path, cloaked: Path, skipped: list[Skip]) -> PerceptualCost | None:
    """The cost of one cloaked copy; None (and a recorded skip) when it cannot be compared."""
    return kept_cost(cost_or_reason(original, cloaked), cloaked, skipped)


def perturbation_record(costs: Iterable[tuple[PerceptualCost | None, float]]) -> Perturbation:
    """Perceptual cost over the copies given (one per distinct photo cloaked, with the cloaker's seconds for it)."""
    costs = list(costs)
    measured = [cost for cost, _ in costs if cost is not None]
    seconds = [s for _, s in costs]
    per_photo = float(np.mean(seconds)) if seconds else 0.0
    if not measured:
        return Perturbation(n_photos=0, dssim_mean=0.0, dssim_max=0.0, psnr_mean=None, l2_mean=0.0, linf_max=0.0,
                            seconds_per_photo=per_photo)
    finite_psnr = [c.psnr for c in measured if np.isfinite(c.psnr)]
    lpips = [c.lpips for c in measured if c.lpips is not None]
    return Perturbation(
        n_photos=len(measured),
        dssim_mean=float(np.mean([c.dssim for c in measured])),
        dssim_max=float(np.max([c.dssim for c in measured])),
        psnr_mean=float(np.mean(finite_psnr)) if finite_psnr else None,
        l2_mean=float(np.mean([c.l2 for c in measured])),
        linf_max=float(np.max([c.linf for c in measured])),
        seconds_per_photo=per_photo,
        lpips_mean=float(np.mean(lpips)) if len(lpips) == len(measured) else None,
        lpips_max=float(np.max(lpips)) if len(lpips) == len(measured) else None,
    )
