"""facenet-pytorch's InceptionResnetV1 (VGGFace2 or CASIA-WebFace weights).

The weights are not in the wheel: they come from facenet-pytorch's own download where a
network exists, or from a local file given as `weights=PATH`.
"""

from __future__ import annotations

import torch
from torch import nn

from audit.digests import file_digest
from audit.extractors.base import Extractor, WeightsFileSpec
from audit.face._torchvision_shim import import_facenet_pytorch
from audit.face.templates import DLIB_CHIP

INPUT_SIZE = 160
CLASSES = {"vggface2": 8631, "casia-webface": 10575}


class FixedStandardisation(nn.Module):
    """facenet-pytorch's `fixed_image_standardization`: (x - 127.5) / 128."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - 127.5) / 128.0


class FacenetSpec(WeightsFileSpec):
    """facenet-pytorch InceptionResnetV1 (download or weights=PATH)."""

    dataset: str

    def build(self) -> Extractor:
        facenet = import_facenet_pytorch()
        network = facenet.InceptionResnetV1(classify=False, num_classes=CLASSES[self.dataset])
        if self.weights:
            state = torch.load(self.weights, map_location="cpu", weights_only=True)
            weights_id = file_digest(self.weights)[:16]
        else:
            from facenet_pytorch.models.inception_resnet_v1 import load_weights

            try:
                load_weights(network, self.dataset)
            except Exception as err:  # no network, blocked host, bad download
                raise RuntimeError(
                    f"{self.name}: could not download facenet-pytorch's {self.dataset} weights ({err}). "
                    f"Fetch them where a network exists and pass {self.name}:weights=PATH"
                ) from err
            state, weights_id = network.state_dict(), f"facenet-{self.dataset}"
        network.load_state_dict(state)
        module = nn.Sequential(FixedStandardisation(), network).eval()
        return Extractor(self.name, module, INPUT_SIZE, dict(DLIB_CHIP), weights_id)


class FacenetVggface2Spec(FacenetSpec):
    """facenet-pytorch InceptionResnetV1 (trained on VGGFace2, research-only; MIT weights; download or weights=)"""

    name = "facenet-vggface2"
    dataset = "vggface2"


class FacenetCasiaSpec(FacenetSpec):
    """facenet-pytorch InceptionResnetV1 (trained on CASIA-WebFace, research-only; MIT weights; download or weights=)"""

    name = "facenet-casia"
    dataset = "casia-webface"
