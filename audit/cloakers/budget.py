"""A cloak's visibility budget: one perceptual metric, one limit, on the photo as it is saved.

`budget=lpips:0.05` or `budget=dssim:0.01` bounds the cost that the report states for each copy (the
whole photo at its own size, after encoding), so two cloaks under one budget are equally visible
by the same yardstick. The optimising cloakers (Fawkes, LowKey) carry it as a hinge on that cost
inside their objective; every built-in cloaker then checks the saved photo and, where rounding,
JPEG or a hinge left it over, scales its perturbation back by bisection until it fits. A copy that
fits only as the unchanged photo is a skip with its reason, never a silent overrun.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from audit.images import decode_image, encode_image
from audit.perceptual import COST_METRICS
from audit.plugins import SpecValue

BISECTION_STEPS = 12  # the perturbation's scale to 1/4096


@dataclass(frozen=True)
class Budget(SpecValue):
    """One metric of `COST_METRICS` and the most a saved copy may cost in it (`lpips:0.05`)."""

    metric: str
    limit: float

    @classmethod
    def parse(cls, text: str) -> Budget:
        """`lpips:0.05` → Budget("lpips", 0.05)."""
        metric, _, value = text.partition(":")
        if metric not in COST_METRICS or not value:
            raise ValueError(f"budget={text!r}: write METRIC:LIMIT with METRIC one of {', '.join(COST_METRICS)} "
                             "(e.g. budget=lpips:0.05)")
        try:
            limit = float(value)
        except ValueError:
            raise ValueError(f"budget={text!r}: {value!r} is not a number") from None
        low, high = COST_METRICS[metric].limits
        if not low < limit < high:
            raise ValueError(f"budget={text!r}: a {metric} limit lies in ({low:g}, {high:g})")
        return cls(metric, limit)

    @classmethod
    def sweep(cls, texts: list[str]) -> list[Budget]:
        """A budget option's swept values (`lpips:0.02`, `0.04`, `dssim:0.01`): a limit without a metric takes the
        one before it; each budget once."""
        budgets, metric = [], None
        for text in texts:
            if ":" in text:
                metric = text.partition(":")[0]
            elif metric is None:
                raise ValueError(f"budget {text!r} names no metric (write budget=lpips:{text},...)")
            budgets.append(cls.parse(text if ":" in text else f"{metric}:{text}"))
        if len(set(budgets)) != len(budgets):
            raise ValueError(f"budget={','.join(texts)}: a budget appears twice")
        return budgets

    @staticmethod
    def sweep_texts(budgets: list[Budget]) -> list[str]:
        """Budgets as a sweep writes them, a limit after one of the same metric without its metric (what `sweep`
        reads back): `lpips:0.02`, `0.04`, `dssim:0.01`."""
        return [f"{b.limit:g}" if i and budgets[i - 1].metric == b.metric else b.spec for i, b in enumerate(budgets)]

    @property
    def spec(self) -> str:
        return f"{self.metric}:{self.limit:g}"

    def measure(self, original: np.ndarray, photo: np.ndarray) -> float:
        """The cost of `photo` (H×W×3 uint8, as saved) against `original`, as every report states it."""
        return COST_METRICS[self.metric].on_photo(original, photo)

    def on_batch(self, originals: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor | slice], torch.Tensor]:
        """A differentiable cost of each photo of a batch (N×3×H×W, 0–255) against `originals`, for an
        optimiser's hinge: `cost(photos, index)` compares photos with the originals at `index`."""
        return COST_METRICS[self.metric].against(originals)


def as_saved(photo: np.ndarray, output_format: str, quality: int) -> np.ndarray:
    """The photo as a reader of the saved file sees it (a JPEG's own losses included)."""
    return photo if output_format == "png" else decode_image(encode_image(photo, output_format, quality))


def within_budget(budget: Budget, original: np.ndarray, cloaked: np.ndarray, output_format: str = "png",
                  quality: int = 95) -> np.ndarray | str:
    """`cloaked`, or its perturbation scaled back (bisection on its size) until the saved photo's cost fits
    `budget`; a skip reason when only the unchanged photo fits. A copy of another size is left as it is:
    its cost cannot be measured, and the cost stage records why."""
    if cloaked.shape != original.shape:
        return cloaked
    if budget.measure(original, as_saved(cloaked, output_format, quality)) <= budget.limit:
        return cloaked
    change = cloaked.astype(np.float64) - original

    def scaled(alpha: float) -> np.ndarray:
        return np.clip(np.rint(original + alpha * change), 0, 255).astype(np.uint8)

    low, high = 0.0, 1.0
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        fits = budget.measure(original, as_saved(scaled(middle), output_format, quality)) <= budget.limit
        low, high = (middle, high) if fits else (low, middle)
    kept = scaled(low)
    if low == 0 or np.array_equal(kept, original):
        smallest = budget.measure(original, as_saved(scaled(1 / 2**BISECTION_STEPS), output_format, quality))
        return (f"no cloak within budget {budget}: the smallest change of this cloak costs {budget.metric} "
                f"{smallest:.4f} on the saved photo")
    return kept

