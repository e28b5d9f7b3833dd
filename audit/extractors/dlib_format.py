"""Reader for dlib's binary serialisation of `dlib_face_recognition_resnet_model_v1`.

dlib writes a network as: the loss layer, the version integers of every wrapper from the
outermost inward, then each layer's record from the innermost (the input layer) outward.
Tag and skip layers store no identity, so the reader only returns the computational layers
in file order; `dlib_resnet.py` checks that sequence against the known architecture.

Primitive encodings (dlib/serialize.h):
- integer: a control byte (low nibble = byte count, 0x80 = negative), then little-endian bytes;
- float: a mantissa integer and an exponent integer (value = m * 2**e);
- string: an integer length, then the bytes;
- tensor: integers 2, n, k, nr, nc, then n*k*nr*nc raw little-endian float32.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DlibFormatError(ValueError):
    """The file is not the dlib network this reader expects."""


@dataclass
class DlibLayer:
    kind: str  # "con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "fc", "input"
    params: np.ndarray | None = None
    attrs: dict[str, float | int] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise DlibFormatError("unexpected end of file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def integer(self) -> int:
        control = self.byte()
        size = control & 0x0F
        if size > 8:
            raise DlibFormatError(f"bad integer control byte 0x{control:02x} at {self.pos - 1}")
        raw = self.data[self.pos : self.pos + size]
        self.pos += size
        value = int.from_bytes(raw, "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa) * 2.0**exponent

    def string(self) -> str:
        n = self.integer()
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("latin-1")

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise DlibFormatError(f"unsupported tensor version {version} at {self.pos}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        end = self.pos + 4 * count
        if end > len(self.data):
            raise DlibFormatError("tensor runs past the end of the file")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos = end
        return values.reshape(shape).astype(np.float32)


# The layer-type names dlib writes at the start of each layer's record.
_LAYER_NAME = re.compile(
    rb"[\x01](?P<len>[\x04-\x15])(?P<name>con_[4-9]|affine_|relu_|max_pool_[0-9]?|"
    rb"avg_pool_[0-9]?|add_prev_|fc_[0-9]?|input_rgb_image_sized)"
)


def _read_layer(r: _Reader, name: str) -> DlibLayer:
    if name == "input_rgb_image_sized":
        means = (r.real(), r.real(), r.real())
        size = (r.integer(), r.integer())
        return DlibLayer("input", attrs={"mean_r": means[0], "mean_g": means[1],
                                         "mean_b": means[2], "rows": size[0], "cols": size[1]})
    if name.startswith("con_"):
        params = r.tensor()
        nf, nr, nc, sy, sx = (r.integer() for _ in range(5))
        py, px = r.integer(), r.integer()
        return DlibLayer("con", params, {"filters": nf, "rows": nr, "cols": nc, "stride_y": sy,
                                         "stride_x": sx, "pad_y": py, "pad_x": px})
    if name == "affine_":
        return DlibLayer("affine", r.tensor())
    if name.startswith(("max_pool_", "avg_pool_")):
        nr, nc, sy, sx = (r.integer() for _ in range(4))
        py, px = r.integer(), r.integer()
        kind = "max_pool" if name.startswith("max") else "avg_pool"
        return DlibLayer(kind, attrs={"rows": nr, "cols": nc, "stride_y": sy, "stride_x": sx,
                                      "pad_y": py, "pad_x": px})
    if name.startswith("fc_"):
        n_out, n_in = r.integer(), r.integer()
        params = r.tensor()
        return DlibLayer("fc", params, {"outputs": n_out, "inputs": n_in})
    return DlibLayer(name.rstrip("_0123456789"))  # relu_, add_prev_: no parameters


def read_dlib_layers(path: str | Path) -> list[DlibLayer]:
    """Return the computational layers of a dlib network file, innermost first."""
    data = Path(path).read_bytes()
    r = _Reader(data)
    if b"loss_metric_" not in data[:64]:
        raise DlibFormatError(f"{path}: not a dlib metric-learning network (no loss_metric_ header)")
    layers: list[DlibLayer] = []
    while True:
        # Between layer records lie only wrapper bookkeeping (versions, flags, empty
        # gradient tensors); the next record starts at the next layer-type name.
        m = _LAYER_NAME.search(data, r.pos)
        if m is None:
            break
        if int.from_bytes(m.group("len"), "little") != len(m.group("name")):
            r.pos = m.start() + 1
            continue
        r.pos = m.end()
        layers.append(_read_layer(r, m.group("name").decode()))
    if not layers or layers[0].kind != "input":
        raise DlibFormatError(f"{path}: no input layer found")
    return layers
