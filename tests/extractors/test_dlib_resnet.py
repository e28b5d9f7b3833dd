import numpy as np
import pytest
import torch

from audit.extractors.dlib_format import DlibFormatError, _Reader, read_dlib_layers
from audit.extractors.dlib_resnet import DlibResNet, add_zero_padded
from audit.face.detection import face_model_path
from audit.images import read_image
from tests.conftest import lfw_sample


def test_port_matches_dlib_on_lfw_chips(lfw_root, dlib_resnet, dlib_reference):
    """On ≥ 50 LFW photos aligned by dlib's own get_face_chip, descriptors agree within 1e-4."""
    import dlib

    detector, predictor, recognizer = dlib_reference
    chips, expected = [], []
    for path in lfw_sample(lfw_root, 70, seed=1):
        image = read_image(path)
        faces = detector(image, 1)
        if not faces:
            continue
        chip = dlib.get_face_chip(image, predictor(image, faces[0]), 150, 0.25)
        chips.append(chip)
        expected.append(np.array(recognizer.compute_face_descriptor(chip)))
    assert len(chips) >= 50
    ours = dlib_resnet.embed(torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2))
    assert np.abs(ours - np.stack(expected)).max() <= 1e-4


def test_layer_sequence_is_checked():
    layers = read_dlib_layers(face_model_path("dlib_face_recognition_resnet_model_v1.dat"))
    assert [layer.kind for layer in layers] == DlibResNet().dlib_layer_kinds()
    assert layers[0].attrs["rows"] == 150 and abs(layers[0].attrs["mean_r"] - 122.782) < 1e-3


def test_truncated_or_foreign_file_is_refused(tmp_path):
    data = face_model_path("dlib_face_recognition_resnet_model_v1.dat").read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DlibFormatError):
        DlibResNet.from_dlib_file(str(truncated))
    foreign = tmp_path / "landmarks.dat"
    foreign.write_bytes(face_model_path("shape_predictor_5_face_landmarks.dat").read_bytes())
    with pytest.raises(DlibFormatError, match="not a dlib metric-learning network"):
        DlibResNet.from_dlib_file(str(foreign))


def test_dlib_integer_and_float_encoding():
    # control byte: low nibble = byte count, 0x80 = negative; floats are mantissa, exponent
    assert _Reader(bytes([0x02, 0x00, 0x01])).integer() == 256
    assert _Reader(bytes([0x81, 0x11])).integer() == -17
    assert _Reader(bytes([0x01, 0x03, 0x81, 0x01])).real() == 1.5


def test_add_zero_padded_pads_channels_and_space():
    a = torch.ones(1, 4, 1, 1)
    b = torch.full((1, 2, 2, 2), 2.0)
    out = add_zero_padded(a, b)
    assert out.shape == (1, 4, 2, 2)
    assert out[0, 0, 0, 0] == 3 and out[0, 0, 1, 1] == 2 and out[0, 3, 0, 0] == 1 and out[0, 3, 1, 1] == 0


def test_port_is_differentiable(dlib_resnet):
    chips = torch.full((1, 3, 150, 150), 128.0, requires_grad=True)
    dlib_resnet.module(chips).norm().backward()
    assert chips.grad is not None and chips.grad.abs().sum() > 0
