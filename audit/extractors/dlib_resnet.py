"""dlib's `dlib_face_recognition_resnet_model_v1` as a pure, differentiable PyTorch module.

The weights are parsed from the `.dat` file that the `face_recognition_models` package ships
(no dlib at run time) and checked layer by layer against the architecture of dlib's
`dnn_face_recognition_ex.cpp`. Two dlib behaviours matter for a faithful port: convolutions
with stride 2 use no padding, and `add_prev` zero-pads the smaller operand (in channels and
space) to the larger one.
"""

from __future__ import annotations

import io

import torch
import torch.nn.functional as F
from torch import nn

from audit.digests import file_digest
from audit.extractors.base import Extractor, WeightsFileSpec
from audit.extractors.dlib_format import DlibFormatError, DlibLayer, read_dlib_layers
from audit.face.detection import face_model_path
from audit.face.templates import DLIB_CHIP
from audit.paths import atomic_write_bytes, cache_dir

# (channels, downsample first?, residual blocks after it), innermost stage first.
STAGES: tuple[tuple[int, bool, int], ...] = ((32, False, 3), (64, True, 3), (128, True, 2),
                                             (256, True, 2), (256, True, 0))
EMBEDDING_DIM = 128
INPUT_SIZE = 150
# dlib's input layer: (pixel - mean) / 256 per channel; the means are read from the file.
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)
SAME_PERSON_DISTANCE = 0.6


class Affine(nn.Module):
    """dlib's `affine` layer's parameters: batch norm folded into a per-channel `x * gamma + beta`,
    applied by `conv_affine` together with the convolution before it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))


def conv_affine(x: torch.Tensor, conv: nn.Conv2d, affine: Affine) -> torch.Tensor:
    """`conv` then `affine` as one convolution, the scale folded into the filters and the shift into
    the bias: two passes over every activation fewer, forward and backward. Folded on each call from
    the parameters as they are, so training still updates the convolution and the affine apart."""
    weight = conv.weight * affine.gamma.view(-1, 1, 1, 1)
    return F.conv2d(x, weight, torch.addcmul(affine.beta, conv.bias, affine.gamma), conv.stride, conv.padding)


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's `add_prev`: pad the smaller operand with zeros to the larger shape, then add."""
    shape = [max(x, y) for x, y in zip(a.shape[1:], b.shape[1:])]

    def pad(t: torch.Tensor) -> torch.Tensor:
        c, h, w = t.shape[1:]
        return F.pad(t, (0, shape[2] - w, 0, shape[1] - h, 0, shape[0] - c))

    return pad(a) + pad(b)


class ResidualBlock(nn.Module):
    """conv3x3 → affine → relu → conv3x3 → affine, plus the input (avg-pooled when down)."""

    def __init__(self, in_channels: int, channels: int, down: bool) -> None:
        super().__init__()
        stride = 2 if down else 1
        self.down = down
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding=0 if down else 1)
        self.affine1 = Affine(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, padding=1)
        self.affine2 = Affine(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = conv_affine(F.relu(conv_affine(x, self.conv1, self.affine1)), self.conv2, self.affine2)
        skip = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_zero_padded(y, skip))

    def dlib_layer_kinds(self) -> list[str]:
        pool = ["avg_pool"] if self.down else []
        return ["con", "affine", "relu", "con", "affine", *pool, "add_prev", "relu"]


class DlibResNet(nn.Module):
    """Maps aligned 150×150 RGB chips (float, 0–255, N×3×150×150) to 128-d descriptors."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(DLIB_MEAN_RGB).view(1, 3, 1, 1))
        self.stem = nn.Conv2d(3, 32, 7, 2, padding=0)
        self.stem_affine = Affine(32)
        blocks: list[ResidualBlock] = []
        in_channels = 32
        for channels, down, n_residual in STAGES:
            if down:
                blocks.append(ResidualBlock(in_channels, channels, down=True))
            blocks.extend(ResidualBlock(channels, channels, down=False) for _ in range(n_residual))
            in_channels = channels
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(in_channels, EMBEDDING_DIM, bias=False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips - self.mean) / 256.0
        x = F.max_pool2d(F.relu(conv_affine(x, self.stem, self.stem_affine)), 3, 2)
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean(dim=(2, 3)))

    def dlib_layer_kinds(self) -> list[str]:
        kinds = ["input", "con", "affine", "relu", "max_pool"]
        for block in self.blocks:
            kinds += block.dlib_layer_kinds()
        return kinds + ["avg_pool", "fc"]

    @classmethod
    def from_dlib_file(cls, path: str) -> "DlibResNet":
        """Build the module and load its weights from dlib's `.dat` file."""
        model = cls()
        layers = read_dlib_layers(path)
        kinds = [layer.kind for layer in layers]
        if kinds != model.dlib_layer_kinds():
            raise DlibFormatError(f"{path}: layer sequence does not match dlib's face ResNet")
        model._load(layers)
        return model.eval()

    def _load(self, layers: list[DlibLayer]) -> None:
        source = iter(layers)
        mean = next(source).attrs
        self.mean.copy_(torch.tensor([mean["mean_r"], mean["mean_g"], mean["mean_b"]]).view(1, 3, 1, 1))
        convs = [self.stem] + [c for b in self.blocks for c in (b.conv1, b.conv2)]
        affines = [self.stem_affine] + [a for b in self.blocks for a in (b.affine1, b.affine2)]
        conv_layers = [layer for layer in layers if layer.kind == "con"]
        affine_layers = [layer for layer in layers if layer.kind == "affine"]
        with torch.no_grad():
            for conv, layer in zip(convs, conv_layers, strict=True):
                _load_conv(conv, layer)
            for affine, layer in zip(affines, affine_layers, strict=True):
                values = torch.from_numpy(layer.params.ravel().copy())
                n = affine.gamma.numel()
                if values.numel() != 2 * n:
                    raise DlibFormatError(f"affine layer has {values.numel()} values, expected {2 * n}")
                affine.gamma.copy_(values[:n])
                affine.beta.copy_(values[n:])
            fc = layers[-1]
            weights = torch.from_numpy(fc.params.ravel().copy())
            if weights.numel() != self.fc.weight.numel():
                raise DlibFormatError("fully connected layer has an unexpected size")
            # dlib stores fc weights as [inputs, outputs].
            self.fc.weight.copy_(weights.view(fc.attrs["inputs"], fc.attrs["outputs"]).t())


def _load_conv(conv: nn.Conv2d, layer: DlibLayer) -> None:
    a = layer.attrs
    expected = (conv.out_channels, conv.kernel_size, conv.stride, conv.padding)
    found = (a["filters"], (a["rows"], a["cols"]), (a["stride_y"], a["stride_x"]), (a["pad_y"], a["pad_x"]))
    if expected != found:
        raise DlibFormatError(f"convolution mismatch: module {expected}, file {found}")
    values = torch.from_numpy(layer.params.ravel().copy())
    n_weights = conv.weight.numel()
    if values.numel() != n_weights + conv.out_channels:
        raise DlibFormatError("convolution parameter count mismatch")
    conv.weight.copy_(values[:n_weights].view_as(conv.weight))
    conv.bias.copy_(values[n_weights:])


class DlibResnetSpec(WeightsFileSpec):
    """dlib's 128-d face ResNet (trained on ~3M faces: VGG, FaceScrub, web; CC0 weights from face_recognition_models)"""

    name = "dlib-resnet"

    def build(self) -> Extractor:
        """The converted weights are cached as a torch state dict, keyed by the `.dat` file's digest."""
        path = self.weights or face_model_path("dlib_face_recognition_resnet_model_v1.dat")
        digest = file_digest(path)
        converted = cache_dir() / "extractors" / f"dlib-resnet-{digest[:16]}.pt"
        model = DlibResNet()
        if converted.exists():
            model.load_state_dict(torch.load(converted, weights_only=True))
        else:
            model = DlibResNet.from_dlib_file(str(path))
            buffer = io.BytesIO()
            torch.save(model.state_dict(), buffer)
            atomic_write_bytes(converted, buffer.getvalue())
        return Extractor(self.name, model.eval(), INPUT_SIZE, dict(DLIB_CHIP), f"dlib:{digest[:16]}",
                         same_person_distance=SAME_PERSON_DISTANCE, channels_last=True)  # 1.36x on 2 cores
