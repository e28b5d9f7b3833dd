"""`onnx:` models as older exporters (MXNet → ONNX) write them: weights listed as graph inputs, some
unused, and the batch fixed at 1. Built with the `onnx` helper API so each trait is present on its own."""

from pathlib import Path

import numpy as np
import pytest
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from audit.extractors import load_extractor

SIDE, DIM = 16, 8
WEIGHTS = np.random.default_rng(0).normal(size=(3 * SIDE * SIDE, DIM)).astype(np.float32)


def model_file(folder: Path, batch: int | str = "N", weights_as_inputs: bool = False,
               unused_input: bool = False) -> Path:
    """Flatten, then a matrix product: chips (batch × 3 × 16 × 16) → 8-d embeddings."""
    image = helper.make_tensor_value_info("data", TensorProto.FLOAT, [batch, 3, SIDE, SIDE])
    inputs = [image]
    if weights_as_inputs:  # IR 3 style: every initializer is also a graph input
        inputs.append(helper.make_tensor_value_info("fc_weight", TensorProto.FLOAT, list(WEIGHTS.shape)))
    if unused_input:  # a weight the converter pruned but still lists, with no value
        inputs.append(helper.make_tensor_value_info("fc_bias_unused", TensorProto.FLOAT, [DIM]))
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["data"], ["flat"]), helper.make_node("MatMul", ["flat", "fc_weight"], ["fc1"])],
        "older-exporter", inputs, [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [batch, DIM])],
        [numpy_helper.from_array(WEIGHTS, "fc_weight")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 3
    path = folder / f"model-{batch}-{int(weights_as_inputs)}{int(unused_input)}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def embeddings(path: Path, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    chips = torch.rand(n, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(1)) * 255
    extractor = load_extractor(f"onnx:{path},size={SIDE},pixels=0..255")
    return extractor.embed(chips), chips.reshape(n, -1).numpy() @ WEIGHTS


@pytest.mark.parametrize("traits", [dict(weights_as_inputs=True), dict(weights_as_inputs=True, unused_input=True),
                                    dict(batch=1), dict(batch=1, weights_as_inputs=True, unused_input=True),
                                    dict(batch=3)])
def test_models_from_older_exporters_embed_whole_batches(tmp_path, traits):
    got, expected = embeddings(model_file(tmp_path, **traits))
    assert got.shape == (20, DIM)
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-2)


def test_onnxruntime_warnings_are_silent_unless_asked_for(tmp_path, capfd, monkeypatch):
    path = model_file(tmp_path, weights_as_inputs=True)
    model = onnx.load(str(path))  # and a weight no node reads, which onnxruntime would warn about too
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(DIM, np.float32), "unused_bias"))
    model.graph.input.append(helper.make_tensor_value_info("unused_bias", TensorProto.FLOAT, [DIM]))
    path.write_bytes(model.SerializeToString())
    capfd.readouterr()
    embeddings(path, n=2)
    assert "onnxruntime" not in capfd.readouterr().err
    monkeypatch.setenv("AUDIT_ONNX_LOG", "info")
    embeddings(path, n=2)
    assert "[I:onnxruntime" in capfd.readouterr().err
    monkeypatch.setenv("AUDIT_ONNX_LOG", "loud")
    with pytest.raises(ValueError, match="AUDIT_ONNX_LOG='loud'; choose verbose, info, warning, error, fatal"):
        embeddings(path, n=2)


def test_a_model_with_two_real_inputs_is_refused_with_their_names(tmp_path):
    image = helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, SIDE, SIDE])
    scale = helper.make_tensor_value_info("scale", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Mul", ["data", "scale"], ["out"])], "two-inputs", [image, scale],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 3, SIDE, SIDE])])
    path = tmp_path / "two.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)]).SerializeToString())
    with pytest.raises(ValueError, match="takes 2 inputs \\(data, scale\\); a face model takes one batch of images"):
        load_extractor(f"onnx:{path},size={SIDE}")
