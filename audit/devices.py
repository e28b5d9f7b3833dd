"""Where torch work runs: every plugin that computes with torch takes `device=auto|cpu|cuda[:N]`.

`auto` is resolved where the work runs (a Ray worker with a GPU uses it; `CUDA_VISIBLE_DEVICES=` hides
every GPU from a run). The device is where, not what: results agree across devices within float
tolerance, so it is left out of cache keys (`Plugin.placement`) and a cell computed on a GPU is reused on a
CPU.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

DEVICE_CHOICES = "auto, cpu or cuda[:N]"
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's `mallopt` parameters


def check_device(owner: str, device: str) -> str:
    """`device` if it names a device kind cloak-audit runs on; a clear error naming `owner` if not."""
    if device in ("auto", "cpu") or re.fullmatch(r"cuda(:\d+)?", device):
        return device
    raise ValueError(f"{owner}: device={device!r}; use {DEVICE_CHOICES}")


def torch_device(device: str) -> torch.device:
    """The torch device `device` means here: `auto` is the first GPU torch sees, else the CPU; a named GPU
    must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda":
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (resolved.index or 0) >= visible:
            raise RuntimeError(f"device={device}: torch sees {visible} GPU(s) here (a CPU build of torch sees none); "
                               f"use device=auto or device=cpu")
    return resolved


def module_device(module: nn.Module) -> torch.device:
    """Where a module's weights are (the CPU for a module without any)."""
    tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def check_devices_here(plugins: Iterable[object]) -> None:
    """Resolve every plugin's `device` on this machine, so that a GPU it lacks fails before any work (on a
    cluster each worker resolves its own)."""
    for plugin in plugins:
        if isinstance(device := getattr(plugin, "device", None), str):
            torch_device(device)


@contextmanager
def exact_float32() -> Iterator[None]:
    """GPU convolutions and matrix products in full float32 inside the block. torch lets cuDNN convolve in TF32
    (10-bit mantissas) by default; for MTCNN that moved 24 of 272 LFW faces' landmarks by more than 0.5 px (up to
    3.8 px) against the CPU's, so a face cached by one device would not be the face the other finds
    (bench/bench_devices.py). No effect on a CPU."""
    flags = torch.backends.cudnn, torch.backends.cuda.matmul
    before = [flag.allow_tf32 for flag in flags]
    for flag in flags:
        flag.allow_tf32 = False
    try:
        yield
    finally:
        for flag, allowed in zip(flags, before):
            flag.allow_tf32 = allowed


@functools.cache
def reuse_freed_memory() -> bool:
    """Have glibc's malloc serve every block from memory this process freed before, keeping up to 1 GB of it free,
    instead of mapping fresh pages for each large block and handing them back when it is freed: torch's CPU kernels
    allocate each layer's output anew, and every first write to a fresh page is a fault. In a fresh process on 2
    cores, without it: mobilefacenet embedded 2.1x slower and faceres 2.0x (3 million faults per 512 chips), and
    MTCNN's oneDNN tensors took 380,000 faults per 512 LFW photos; keeping only 256 MB, faceres's passes still
    faulted at times. What a preloaded jemalloc or tcmalloc does (PyTorch's performance tuning guide), from inside
    the process; `audit` and its Ray tasks set it as they start. Process-wide, once; False where there is no
    `mallopt` (only glibc has one: macOS, Windows and musl keep their own malloc's ways)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
