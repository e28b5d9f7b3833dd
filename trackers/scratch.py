"""`scratch`: a face classifier trained from nothing but the label set's photos."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from audit.devices import module_device, torch_device
from audit.embedding.pipeline import FacePipeline
from audit.extractors.base import Extractor
from audit.face.detection import FaceDetector
from audit.face.templates import DLIB_CHIP
from trackers.base import EmbeddingTracker

ARCHITECTURES = ("convnet", "resnet")


class ScratchTracker(EmbeddingTracker):
    """A compact CNN trained from scratch on the aligned training faces (Fawkes §5's third tracker).

    No pretrained model is involved, so a cloak computed against some feature extractor has
    to transfer to a network that never saw it. The network is small enough to train on two
    CPU cores in minutes: `arch` (`convnet`: a VGG-style stack; `resnet`: a ResNet-10), `size`
    (the aligned chip's side, pixels), `width` (channels of the first stage, doubled per
    stage), `epochs`, `lr` and `batch_size`. Training flips and shifts the chips; prediction
    averages a chip and its mirror image.
    """

    name = "scratch"

    def __init__(self, arch: str = "convnet", size: int = 64, width: int = 16, epochs: int = 30, lr: float = 0.003,
                 batch_size: int = 64, seed: int = 0, face_detector: str | FaceDetector = "mtcnn",
                 device: str = "auto") -> None:
        """arch: convnet (a VGG-style stack) or resnet (a ResNet-10)
        size: the aligned chip's side, in pixels
        width: channels of the first stage (doubled per stage)
        epochs: training epochs
        lr: Adam's learning rate
        batch_size: chips per training step
        seed: initialisation, batch order and augmentation"""
        # it learns its own features: no extractor to swap or tune
        super().__init__(extractor=None, face_detector=face_detector, device=device)
        if arch not in ARCHITECTURES:
            raise ValueError(f"scratch: arch={arch!r}; choose {', '.join(ARCHITECTURES)}")
        if size < 32 or width < 4 or epochs < 1 or batch_size < 1:
            raise ValueError("scratch: size must be at least 32, width at least 4, epochs and batch_size at least 1")
        self.arch = arch
        self.size = size
        self.width = width
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed

    @property
    def pipeline(self) -> FacePipeline:
        """Aligned chips as flat pixel vectors: the embedding cache then keeps the chips themselves."""
        if self._pipeline is None:
            pixels = Extractor("aligned-pixels", nn.Flatten(), self.size, dict(DLIB_CHIP), "pixels-v1")
            self._pipeline = FacePipeline(pixels, face_detector=self.face_detector, device=self.device)
        return self._pipeline

    def chips(self, embeddings: np.ndarray) -> torch.Tensor:
        return (torch.from_numpy(embeddings).view(-1, 3, self.size, self.size) - self.mean_) / self.std_

    def fit_embeddings(self, embeddings: np.ndarray, labels: list[str]) -> None:
        self.classes_ = np.array(sorted(set(labels)))
        targets = torch.from_numpy(np.searchsorted(self.classes_, labels))
        pixels = torch.from_numpy(embeddings).view(-1, 3, self.size, self.size)
        self.mean_ = pixels.mean(dim=(0, 2, 3), keepdim=True)
        self.std_ = pixels.std(dim=(0, 2, 3), keepdim=True) + 1e-6
        device = torch_device(self.device)
        x, targets = self.chips(embeddings).to(device), targets.to(device)
        generator = torch.Generator().manual_seed(self.seed)  # on the CPU: the same draws on any device
        torch.manual_seed(self.seed)  # weight initialisation
        model = build_network(self.arch, self.width, len(self.classes_)).to(device)
        optimiser = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=5e-4)
        steps = self.epochs * -(-len(x) // self.batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=self.lr, total_steps=steps)
        self.losses_ = []
        model.train()
        for _ in tqdm(range(self.epochs), desc="scratch: training", unit="epoch", disable=self.epochs < 5):
            order = torch.randperm(len(x), generator=generator)
            total = 0.0
            for start in range(0, len(x), self.batch_size):
                batch = order[start : start + self.batch_size]
                loss = F.cross_entropy(model(jitter(x[batch], generator)), targets[batch], label_smoothing=0.1)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                total += loss.item() * len(batch)
            self.losses_.append(total / len(x))
        self.model_ = model.eval()

    def rank_embeddings(self, embeddings: np.ndarray, depth: int) -> list[list[str]]:
        x = self.chips(embeddings)
        device = module_device(self.model_)
        with torch.no_grad():
            scores = torch.cat([(self.model_(part) + self.model_(part.flip(-1))).cpu()
                                for part in x.to(device).split(256)])
        order = torch.argsort(-scores, dim=1, stable=True)[:, :depth].numpy()
        return [list(self.classes_[row]) for row in order]


def jitter(chips: torch.Tensor, generator: torch.Generator, shift: int = 4) -> torch.Tensor:
    """Random mirror images and shifts of up to `shift` pixels (zero-padded), per chip."""
    flip = (torch.rand(len(chips), generator=generator) < 0.5).to(chips.device)
    chips = torch.where(flip[:, None, None, None], chips.flip(-1), chips)
    size = chips.shape[-1]
    padded = F.pad(chips, (shift,) * 4)
    dx, dy = torch.randint(0, 2 * shift + 1, (2, len(chips)), generator=generator)
    return torch.stack([p[:, y : y + size, x : x + size] for p, x, y in zip(padded, dx.tolist(), dy.tolist())])


def conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(in_channels, out_channels, stride),
                                  nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(out_channels))
        self.skip = (nn.Identity() if stride == 1 and in_channels == out_channels else
                     nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                   nn.BatchNorm2d(out_channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


def build_network(arch: str, width: int, n_classes: int) -> nn.Module:
    """Four stages of `width`·2^i channels, each halving the resolution, then pooling and a linear layer."""
    channels = [width * 2**i for i in range(4)]
    if arch == "convnet":
        layers: list[nn.Module] = []
        previous = 3
        for c in channels:
            layers += [conv_bn(previous, c), conv_bn(c, c), nn.MaxPool2d(2)]
            previous = c
    else:
        layers = [conv_bn(3, channels[0])]
        layers += [BasicBlock(a, b, 1 if i == 0 else 2) for i, (a, b) in enumerate(zip(channels[:1] + channels, channels))]
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
                         nn.Linear(channels[-1], n_classes))
