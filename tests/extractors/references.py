"""The reference chips and embeddings each model's own runtime produced (`../shared/models/<model>/`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def reference_outputs(folder: Path) -> tuple[torch.Tensor, np.ndarray]:
    """N×3×S×S float chips (0–255, RGB) and the N×D embeddings the model's runtime gave for them."""
    saved = np.load(folder / "reference.npz")
    chips = np.stack([np.asarray(Image.open(folder / "reference-chips" / name).convert("RGB"))
                      for name in saved["names"]])
    return torch.from_numpy(chips).permute(0, 3, 1, 2).float(), saved["embeddings"]
