import numpy as np
import pytest
import torch
from torch import nn

from audit.extractors import Extractor, load_extractor
from audit.plugins import registered


def test_registry_lists_every_extractor():
    assert {"dlib-resnet", "facenet-vggface2", "facenet-casia", "onnx", "torchscript"} <= set(registered("extractor"))


def test_unknown_extractor_and_option_are_clear_errors():
    with pytest.raises(ValueError, match="unknown extractor 'nope'"):
        load_extractor("nope")
    with pytest.raises(ValueError, match="unknown option"):
        load_extractor("dlib-resnet:colour=blue")


def test_facenet_from_a_local_weights_file(tmp_path):
    from audit.face._torchvision_shim import import_facenet_pytorch

    facenet = import_facenet_pytorch()
    weights = tmp_path / "vggface2.pt"
    torch.save(facenet.InceptionResnetV1(num_classes=8631).state_dict(), weights)
    extractor = load_extractor(f"facenet-vggface2:weights={weights}")
    out = extractor.embed(torch.rand(2, 3, 160, 160) * 255)
    assert out.shape == (2, 512)
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-4)


def test_facenet_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_extractor(f"facenet-casia:weights={tmp_path / 'missing.pt'}")


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3))


def test_torchscript_and_onnx_user_models_agree(tmp_path):
    model = _Tiny().eval()
    script = tmp_path / "tiny.pt"
    torch.jit.script(model).save(str(script))
    onnx_file = tmp_path / "tiny.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 112, 112),), str(onnx_file), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})
    chips = torch.rand(3, 3, 112, 112) * 255
    expected = model((chips - 127.5) / 127.5).detach().numpy()
    for spec in (f"torchscript:{script},size=112", f"onnx:{onnx_file},size=112"):
        extractor = load_extractor(spec)
        assert extractor.input_size == 112 and "mtcnn" in extractor.templates
        assert np.allclose(extractor.embed(chips), expected, atol=1e-4)
    with pytest.raises(ValueError, match="pixels must be"):
        load_extractor(f"onnx:{onnx_file},pixels=0..2")


def test_embedding_runs_small_passes_on_a_cpu():
    """Passes of 16 chips keep a CPU's cache warm; the embeddings are those of one large pass."""
    extractor = Extractor("tiny", _Tiny().eval(), 32, {}, "tiny")
    passes = []
    extractor.module.register_forward_hook(lambda module, args, output: passes.append(len(args[0])))
    chips = torch.rand(40, 3, 32, 32) * 255
    embeddings = extractor.embed(chips)
    assert passes == [16, 16, 8]
    assert np.allclose(embeddings, extractor.embed(chips, batch_size=40), atol=1e-6) and passes[3:] == [40]


def test_a_saved_torchscript_model_carries_its_settings(dlib_resnet, tmp_path):
    from audit.extractors.user_models import save_torchscript

    path = tmp_path / "dlib.pt"
    save_torchscript(dlib_resnet.module, path, 150, "dlib", "0..255")
    extractor = load_extractor(f"torchscript:{path}")
    assert extractor.input_size == 150 and extractor.templates == dlib_resnet.templates
    chips = torch.rand(2, 3, 150, 150) * 255
    assert np.allclose(extractor.embed(chips), dlib_resnet.embed(chips), atol=1e-5)
    overridden = load_extractor(f"torchscript:{path},pixels=0..1")  # an explicit option still wins
    assert not np.allclose(overridden.embed(chips), dlib_resnet.embed(chips), atol=1e-3)
    with pytest.raises(ValueError, match="template must be one of"):
        save_torchscript(dlib_resnet.module, path, 150, "funnel", "0..255")
    crops = tmp_path / "crops.pt"  # a model read on detector crops (FaceRes's kind) keeps its margin
    save_torchscript(dlib_resnet.module, crops, 150, None, "0..255", margin=0.2)
    assert load_extractor(f"torchscript:{crops}").box_margin == 0.2
    assert load_extractor(f"torchscript:{crops},template=dlib").box_margin is None  # an explicit frame wins
    with pytest.raises(ValueError, match="either a template or a margin"):
        save_torchscript(dlib_resnet.module, crops, 150, "dlib", "0..255", margin=0.2)
    with pytest.raises(ValueError, match="margin=2.0 must lie in 0..1"):
        load_extractor(f"onnx:{path},margin=2")



@pytest.mark.parametrize("name", ["dlib-resnet", "mobilefacenet", "faceres"])
def test_every_built_in_model_saved_as_torchscript_embeds_any_batch(name, tmp_path):
    """Robust retraining saves its fine-tuned copy this way; a trace once fixed MobileFaceNet's batch at one."""
    from audit.extractors.user_models import save_torchscript_like

    extractor = load_extractor(name)
    save_torchscript_like(extractor.module, extractor, tmp_path / "model.pt")
    saved = load_extractor(f"torchscript:{tmp_path / 'model.pt'}")
    assert saved.box_margin == extractor.box_margin and (saved.box_margin or saved.templates == extractor.templates)
    chips = torch.rand(3, 3, extractor.input_size, extractor.input_size) * 255
    assert np.allclose(saved.embed(chips), extractor.embed(chips), atol=1e-4)
