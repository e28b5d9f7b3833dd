"""The one option syntax: specs, nested specs in brackets, sweeps, and TOML tables."""

import pytest

from audit.options import Spec, format_spec, format_sweep, parse_spec, parse_sweep, spec_from_table


def test_specs_with_positional_values_and_nested_specs():
    assert parse_spec("onnx:model.onnx,size=112") == Spec("onnx", "model.onnx", {"size": "112"})
    # a value may itself be a spec without commas: the first colon alone names the plugin
    assert parse_spec("detect-and-drop:cloak_detector=2-means:threshold=4").options == {
        "cloak_detector": "2-means:threshold=4"}
    with pytest.raises(ValueError, match="more than one value without a key"):
        parse_spec("onnx:a.onnx,b.onnx")


def test_a_nested_spec_with_options_is_written_in_brackets():
    spec = parse_spec("faiss:extractor=[onnx:/m.onnx,size=112],k=3")
    assert spec == Spec("faiss", None, {"extractor": "onnx:/m.onnx,size=112", "k": "3"})
    assert parse_spec(spec.options["extractor"]) == Spec("onnx", "/m.onnx", {"size": "112"})
    deeper = parse_spec("linear-probe:extractor=[torchscript:[/models/a,b.pt],size=96]")
    assert parse_spec(deeper.options["extractor"]) == Spec("torchscript", "/models/a,b.pt", {"size": "96"})


@pytest.mark.parametrize("text, where", [("faiss:extractor=[onnx:/m.onnx,size=112", "never closed"),
                                         ("faiss:extractor=onnx:/m.onnx],k=3", "closes no"),
                                         ("faiss:extractor=[[onnx:/m.onnx]", "never closed")])
def test_an_unbalanced_bracket_is_a_clear_error(text, where):
    with pytest.raises(ValueError, match=where):
        parse_spec(text)


def test_format_spec_is_the_inverse_of_parse_spec():
    options = {"extractor": "onnx:/m.onnx,size=112", "k": 3, "threshold": 0.1, "flip": True, "at": "train,test"}
    text = format_spec("faiss", options)
    assert text == "faiss:extractor=[onnx:/m.onnx,size=112],k=3,threshold=0.1,flip=true,at=[train,test]"
    assert parse_spec(text).options == {k: str(v) if not isinstance(v, bool) else "true" for k, v in options.items()}
    with pytest.raises(ValueError, match="closes no"):
        format_spec("faiss", {"extractor": "weird]name"})


def test_sweeps_give_every_combination_and_brackets_keep_a_value_whole():
    sweep = parse_sweep("blur:kernel=3,5,sigma=1,2")
    assert sweep.swept == ["kernel", "sigma"]
    assert [s.options for s in sweep.specs()] == [{"kernel": "3", "sigma": "1"}, {"kernel": "3", "sigma": "2"},
                                                  {"kernel": "5", "sigma": "1"}, {"kernel": "5", "sigma": "2"}]
    with pytest.raises(ValueError, match="comes before any key"):
        parse_sweep("blur:3,kernel=5")
    assert [s.options for s in parse_sweep("jpeg:quality=10,30,at=[train,test]", sets=("at",)).specs()] == [
        {"quality": "10", "at": "train,test"}, {"quality": "30", "at": "train,test"}]
    swept = parse_sweep("robust-retraining:extractor=[onnx:a.onnx,size=96],dlib-resnet")
    assert [s.options["extractor"] for s in swept.specs()] == ["onnx:a.onnx,size=96", "dlib-resnet"]


def test_a_sweep_written_back_reads_the_same():
    values = {"mode": ["high"], "extractor": ["dlib-resnet+[onnx:/m.onnx,size=96]"],
              "budget": ["lpips:0.02", "lpips:0.04"]}
    text = format_sweep("fawkes", values)
    assert text == "fawkes:mode=high,extractor=[dlib-resnet+[onnx:/m.onnx,size=96]],budget=lpips:0.02,lpips:0.04"
    assert parse_sweep(text).values == values and format_sweep("none", {}) == "none"


def test_toml_tables_become_specs():
    table = {"name": "faiss", "k": 3, "extractor": {"name": "onnx", "path": "/m.onnx", "size": 112}}
    assert parse_spec(spec_from_table(table, "tracker")) == Spec(
        "faiss", None, {"k": "3", "extractor": "onnx:path=/m.onnx,size=112"})
    assert parse_sweep(spec_from_table({"name": "blur", "kernel": [3, 5]}, "countermeasure")).specs()[1].options == {
        "kernel": "5"}
    with pytest.raises(ValueError, match="needs a name"):
        spec_from_table({"k": 3}, "tracker")
