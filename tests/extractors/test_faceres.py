"""FaceRes: the torch execution of the shipped TF.js graph against TensorFlow.js's own outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audit.extractors import load_extractor
from audit.extractors.tfjs_graph import TfjsFormatError, TfjsGraphModule
from audit.face.align import BoxAlignment
from tests.extractors.references import reference_outputs


@pytest.fixture(scope="module")
def reference(models_root):
    return reference_outputs(models_root / "faceres")


def test_reproduces_tensorflow_js_to_float_precision(reference):
    chips, expected = reference
    extractor = load_extractor("faceres")
    assert extractor.input_size == 224 and extractor.box_margin is not None
    with torch.no_grad():
        raw = torch.cat([extractor.module[:2](chips[i : i + 7]) for i in range(0, 24, 7)]).numpy()
    assert raw.shape == (24, 1024)
    assert np.abs(raw - expected).max() <= 1e-4  # absolute, on vectors of norm 12-15
    unit = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.abs(extractor.embed(chips) - unit).max() <= 1e-5


def test_is_differentiable_down_to_the_pixels(reference):
    chips, _ = reference
    pixels = chips[:2].clone().requires_grad_(True)
    load_extractor("faceres").module(pixels)[:, :10].sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0


def test_the_chip_is_the_detector_box_with_its_margin(models_root):
    extractor = load_extractor("faceres:margin=0.25")
    alignment = extractor.alignment_for("mtcnn")
    assert alignment == BoxAlignment(0.25)

    class Face:
        box = (100.0, 50.0, 180.0, 150.0)  # 80 wide, 100 high
        landmarks = np.zeros((5, 2))

    matrix = alignment.matrix(Face(), 224)
    edges = np.array([[-0.5, -0.5, 1], [223.5, 223.5, 1]]) @ matrix.T + 0.5  # pixel centres → box coordinates
    assert np.allclose(edges, [[65, 25], [215, 175]])  # a 150 px square (100 + 2 × 25) on the box's centre
    with pytest.raises(ValueError, match="margin must be between 0 and 1"):
        load_extractor("faceres:margin=2")


def test_damaged_graph_files_are_clear_errors(models_root, tmp_path):
    source = models_root / "faceres"
    model = json.loads((source / "faceres.json").read_text())
    (tmp_path / "faceres.json").write_text(json.dumps(model))
    with pytest.raises(TfjsFormatError, match="faceres.bin is missing"):
        TfjsGraphModule(tmp_path / "faceres.json", "global_pooling/Mean")
    (tmp_path / "faceres.bin").write_bytes((source / "faceres.bin").read_bytes()[:1000])
    with pytest.raises(TfjsFormatError, match="truncated"):
        TfjsGraphModule(tmp_path / "faceres.json", "global_pooling/Mean")
    (tmp_path / "faceres.bin").write_bytes((source / "faceres.bin").read_bytes())
    with pytest.raises(TfjsFormatError, match="no node nope"):
        TfjsGraphModule(tmp_path / "faceres.json", "nope")
    model["modelTopology"]["node"].append({"name": "odd", "op": "Conv3D", "input": ["input_1"]})
    (tmp_path / "faceres.json").write_text(json.dumps(model))
    with pytest.raises(TfjsFormatError, match="operator Conv3D is not supported"):
        TfjsGraphModule(tmp_path / "faceres.json", "odd")
