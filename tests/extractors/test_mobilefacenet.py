"""MobileFaceNet: the torch execution of the shipped TFLite file against its own runtime's outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audit.extractors import load_extractor
from tests.extractors.references import reference_outputs


@pytest.fixture(scope="module")
def reference(models_root):
    return reference_outputs(models_root / "mobilefacenet")


def test_reproduces_the_tflite_runtime_to_float_precision(reference):
    chips, expected = reference
    extractor = load_extractor("mobilefacenet")
    assert extractor.input_size == 112 and "mtcnn" in extractor.templates
    raw = torch.cat([extractor.module[:2](chips[i : i + 5]) for i in range(0, 24, 5)]).detach().numpy()
    assert raw.shape == (24, 192)  # batches of another size than the file's 2
    assert np.abs(raw - expected).max() <= 1e-4  # absolute, on vectors of norm 55-75
    unit = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.abs(extractor.embed(chips) - unit).max() <= 1e-5  # what trackers see: unit length


def test_is_differentiable_down_to_the_pixels(reference):
    chips, _ = reference
    module = load_extractor("mobilefacenet").module
    pixels = chips[:2].clone().requires_grad_(True)
    module(pixels).norm(dim=1).sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0
