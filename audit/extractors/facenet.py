"""facenet-pytorch's InceptionResnetV1 (VGGFace2 or CASIA-WebFace weights).

The weights are not in the wheel: they come from facenet-pytorch's own download where a
network exists, or from a local file given as `weights=PATH`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from audit.extractors.base import Extractor, file_sha256
from audit.face._torchvision_shim import import_facenet_pytorch
from audit.face.templates import DLIB_CHIP
from audit.options import reject_unknown, take

INPUT_SIZE = 160
CLASSES = {"vggface2": 8631, "casia-webface": 10575}


class FixedStandardisation(nn.Module):
    """facenet-pytorch's `fixed_image_standardization`: (x - 127.5) / 128."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - 127.5) / 128.0


def _build(dataset: str, registry_name: str, positional: str | None, options: dict[str, str]) -> Extractor:
    weights = take(options, "weights", None) or positional
    reject_unknown(registry_name, options)
    facenet = import_facenet_pytorch()
    network = facenet.InceptionResnetV1(classify=False, num_classes=CLASSES[dataset])
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"{registry_name}: weights file {path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        weights_id = file_sha256(path)[:16]
    else:
        from facenet_pytorch.models.inception_resnet_v1 import load_weights

        try:
            load_weights(network, dataset)
        except Exception as err:  # no network, blocked host, bad download
            raise RuntimeError(
                f"{registry_name}: could not download facenet-pytorch's {dataset} weights ({err}). "
                f"Fetch them where a network exists and pass {registry_name}:weights=PATH"
            ) from err
        state, weights_id = network.state_dict(), f"facenet-{dataset}"
    network.load_state_dict(state)
    module = nn.Sequential(FixedStandardisation(), network).eval()
    return Extractor(registry_name, module, INPUT_SIZE, dict(DLIB_CHIP), weights_id,
                     params={"weights": str(weights)} if weights else {})


def build_vggface2(positional: str | None, options: dict[str, str]) -> Extractor:
    return _build("vggface2", "facenet-vggface2", positional, options)


def build_casia(positional: str | None, options: dict[str, str]) -> Extractor:
    return _build("casia-webface", "facenet-casia", positional, options)
