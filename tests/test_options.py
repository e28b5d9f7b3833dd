"""The one option syntax: specs, sweeps, and setting an option inside a spec."""

import pytest

from audit.options import Spec, parse_spec, parse_sweep, with_option


def test_specs_with_positional_values_and_nested_specs():
    assert parse_spec("onnx:model.onnx,size=112") == Spec("onnx", "model.onnx", {"size": "112"})
    # a value may itself be a spec without commas: the first colon alone names the plugin
    assert parse_spec("detect-and-drop:detector=2-means:threshold=4").options == {"detector": "2-means:threshold=4"}
    with pytest.raises(ValueError, match="more than one value without a key"):
        parse_spec("onnx:a.onnx,b.onnx")


def test_sweeps_give_every_combination():
    specs = parse_sweep("blur:kernel=3,5,sigma=1,2")
    assert [s.options for s in specs] == [{"kernel": "3", "sigma": "1"}, {"kernel": "3", "sigma": "2"},
                                          {"kernel": "5", "sigma": "1"}, {"kernel": "5", "sigma": "2"}]
    with pytest.raises(ValueError, match="comes before any key"):
        parse_sweep("blur:3,kernel=5")


def test_with_option_sets_or_replaces_one_option():
    assert with_option("faiss", "extractor", "torchscript:/m.pt") == "faiss:extractor=torchscript:/m.pt"
    replaced = with_option("linear-probe:head=softmax,extractor=dlib-resnet", "extractor", "onnx:/m.onnx")
    assert parse_spec(replaced) == Spec("linear-probe", None, {"head": "softmax", "extractor": "onnx:/m.onnx"})
    with pytest.raises(ValueError, match="comma"):
        with_option("faiss", "extractor", "onnx:/m.onnx,size=112")
