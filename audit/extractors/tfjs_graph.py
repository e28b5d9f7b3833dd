"""A TensorFlow.js graph model (`model.json` + weight shards) as a differentiable PyTorch module.

The JSON holds a TensorFlow GraphDef (nodes, ops, attributes) and a weights manifest; the
shards hold the constants back to back in manifest order, float32 or float16-quantised. Only
the nodes the requested output depends on are executed, NHWC as TensorFlow keeps them, so
gradients flow to the input pixels and any batch size works. Only the operators face-embedding
graphs use are supported; another one is a clear error.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audit.extractors.tf_ops import conv2d_nhwc, frozen_weight

STORED_DTYPES = {"float32": np.float32, "float16": np.float16, "int32": np.int32}


class TfjsFormatError(ValueError):
    """The files are not a TF.js graph model this reader can execute."""


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    attr: dict


def read_weights(model_json: dict, folder: Path) -> dict[str, np.ndarray]:
    """Every constant in the weights manifest, dequantised to float32 (int32 kept as it is)."""
    weights: dict[str, np.ndarray] = {}
    for group in model_json.get("weightsManifest", []):
        try:
            data = b"".join((folder / shard).read_bytes() for shard in group["paths"])
        except FileNotFoundError as err:
            raise TfjsFormatError(f"weight shard {Path(err.filename).name} is missing beside the model JSON") from None
        offset = 0
        for entry in group["weights"]:
            stored = (entry.get("quantization") or {}).get("dtype", entry["dtype"])
            if stored not in STORED_DTYPES:
                raise TfjsFormatError(f"weight {entry['name']}: {stored} storage is not supported "
                                      f"(supported: {', '.join(STORED_DTYPES)})")
            dtype = np.dtype(STORED_DTYPES[stored]).newbyteorder("<")
            count = int(np.prod(entry["shape"], dtype=np.int64))
            if offset + count * dtype.itemsize > len(data):
                raise TfjsFormatError(f"weight shards end before {entry['name']} (a truncated .bin?)")
            values = np.frombuffer(data, dtype, count, offset).reshape(entry["shape"])
            offset += count * dtype.itemsize
            weights[entry["name"]] = values.astype(np.int32 if stored == "int32" else np.float32)
        if offset != len(data):
            raise TfjsFormatError(f"weight shards hold {len(data) - offset} bytes the manifest does not describe")
    return weights


def data_inputs(inputs: list[str]) -> tuple[str, ...]:
    """Producers of a node's data: control dependencies (`^name`) dropped, output index `:0` too."""
    if any(":" in name and not name.endswith(":0") for name in inputs):
        raise TfjsFormatError(f"a second output of a node is read ({', '.join(inputs)}); not supported")
    return tuple(name.split(":")[0] for name in inputs if not name.startswith("^"))


def fold_constants(order: list[Node], weights: dict[str, np.ndarray]) -> list[Node]:
    """The same function in fewer passes over memory: a per-channel `Mul` and `Add` after a
    convolution (folded batch norm) go into its kernel and bias, and `Relu → Minimum → Maximum`
    by scalars (ReLU6) becomes one clip. New constants are added to `weights`."""
    consumers: dict[str, list[Node]] = {}
    for node in order:
        for source in node.inputs:
            consumers.setdefault(source, []).append(node)

    def sole_consumer(name: str, op: str) -> Node | None:
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and users[0].op == op else None

    def constant_operand(node: Node, producer: str) -> np.ndarray | None:
        other = [name for name in node.inputs if name != producer]
        if len(node.inputs) != 2 or len(other) != 1 or other[0] not in weights:
            return None
        return weights[other[0]] if weights[other[0]].dtype == np.float32 else None

    rename: dict[str, str] = {}  # a folded-away node → the node that now produces its value
    folded: set[str] = set()
    result = []
    for node in order:
        if node.name in folded:
            continue
        node = replace(node, inputs=tuple(rename.get(name, name) for name in node.inputs))
        if node.op in ("Conv2D", "DepthwiseConv2dNative") and node.inputs[1] in weights:
            kernel, bias, last = weights[node.inputs[1]], None, node.name
            channels = kernel.shape[2] * kernel.shape[3] if node.op == "DepthwiseConv2dNative" else kernel.shape[3]
            mul = sole_consumer(last, "Mul")
            scale = None if mul is None else constant_operand(mul, last)
            if scale is not None and scale.size in (1, channels) and scale.ndim <= 1:
                kernel = kernel * scale.reshape(kernel.shape[2:] if node.op == "DepthwiseConv2dNative" else -1)
                folded.add(mul.name)
                last = mul.name
            add = sole_consumer(last, "Add") or sole_consumer(last, "AddV2") or sole_consumer(last, "BiasAdd")
            shift = None if add is None else constant_operand(add, last)
            if shift is not None and shift.size in (1, channels) and shift.ndim <= 1:
                bias = np.broadcast_to(shift, (channels,)).astype(np.float32)
                folded.add(add.name)
                last = add.name
            if last != node.name:
                weights[f"{node.name}/folded_kernel"] = kernel.astype(np.float32)
                inputs = (node.inputs[0], f"{node.name}/folded_kernel")
                if bias is not None:
                    weights[f"{node.name}/folded_bias"] = bias
                    inputs += (f"{node.name}/folded_bias",)
                result += [Node(name, "Const", (), {}) for name in inputs[1:]]
                node = replace(node, inputs=inputs)
                rename[last] = node.name
        elif node.op == "Relu":
            low = sole_consumer(node.name, "Minimum")
            high_value = None if low is None else constant_operand(low, node.name)
            high = None if low is None else sole_consumer(low.name, "Maximum")
            low_value = None if high is None else constant_operand(high, low.name)
            if high_value is not None and low_value is not None and high_value.size == low_value.size == 1:
                bounds = {"low": max(0.0, float(low_value)), "high": float(high_value)}
                if bounds["low"] <= bounds["high"]:
                    node = Node(node.name, "Clip", node.inputs, bounds)
                    folded.update((low.name, high.name))
                    rename[low.name] = rename[high.name] = node.name
        result.append(node)
    used = {name for node in result for name in node.inputs}
    return [node for node in result if node.op != "Const" or node.name in used]


def _attr_ints(node: Node, key: str) -> tuple[int, ...]:
    return tuple(int(i) for i in node.attr.get(key, {}).get("list", {}).get("i", []))


def _attr_string(node: Node, key: str) -> str:
    return base64.b64decode(node.attr[key]["s"]).decode() if key in node.attr else ""


class TfjsGraphModule(nn.Module):
    """Executes the part of a TF.js graph that `output` depends on, from the single placeholder."""

    SUPPORTED = ("Conv2D", "DepthwiseConv2dNative", "Add", "AddV2", "BiasAdd", "Sub", "Mul", "Relu", "Relu6",
                 "Minimum", "Maximum", "Mean", "MatMul", "_FusedMatMul", "Sigmoid", "Softmax", "Identity")

    def __init__(self, path: str | Path, output: str) -> None:
        super().__init__()
        path = Path(path)
        try:
            model_json = json.loads(path.read_text())
            graph = {n["name"]: Node(n["name"], n["op"], data_inputs(n.get("input", [])), n.get("attr", {}))
                     for n in model_json["modelTopology"]["node"]}
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            raise TfjsFormatError(f"{path.name} is not a TF.js graph model ({err})") from None
        weights = read_weights(model_json, path.parent)
        self.files = [path, *(path.parent / shard for group in model_json.get("weightsManifest", [])
                              for shard in group["paths"])]
        if output not in graph:
            raise TfjsFormatError(f"{path.name} has no node {output}")
        for node in graph.values():
            if node.op == "Const" and node.name not in weights:
                raise TfjsFormatError(f"constant {node.name} is not in the weights manifest")
        needed = self._ancestors(graph, output)
        for node in needed:
            if node.op not in ("Placeholder", "Const", *self.SUPPORTED):
                raise TfjsFormatError(f"operator {node.op} is not supported (supported: {', '.join(self.SUPPORTED)})")
        self.order = fold_constants(needed, weights)
        self.output = output
        self.input_name = next(n.name for n in self.order if n.op == "Placeholder")
        self.constants: dict[str, str] = {}
        self.integers: dict[str, tuple[int, ...]] = {}
        for index, node in enumerate(self.order):
            if node.op == "Const":
                value = weights[node.name]
                if value.dtype == np.int32:
                    self.integers[node.name] = tuple(int(v) for v in value.reshape(-1))
                else:
                    self.register_parameter(f"c{index}", frozen_weight(value))
                    self.constants[node.name] = f"c{index}"

    @staticmethod
    def _ancestors(graph: dict[str, Node], output: str) -> list[Node]:
        """The nodes `output` depends on, each after its inputs (iterative depth-first order)."""
        order: list[Node] = []
        done: set[str] = set()
        stack = [(output, False)]
        while stack:
            name, expanded = stack.pop()
            if name in done:
                continue
            if expanded:
                done.add(name)
                order.append(graph[name])
                continue
            stack.append((name, True))
            for source in graph[name].inputs:
                if source not in graph:
                    raise TfjsFormatError(f"node {name} reads {source}, which the graph does not have")
                stack.append((source, False))
        return order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.input_name: x}
        for node in self.order:
            if node.op in ("Placeholder", "Const"):
                if node.name in self.constants:
                    values[node.name] = getattr(self, self.constants[node.name])
                continue
            args = [values.get(name) for name in node.inputs]
            values[node.name] = self._execute(node, args)
        return values[self.output]

    def _execute(self, node: Node, args: list[torch.Tensor | None]) -> torch.Tensor:
        op = node.op
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            x, kernel = args[:2]  # kernel: H×W×I×O, or H×W×I×multiplier for depthwise
            if _attr_string(node, "data_format") not in ("", "NHWC"):
                raise TfjsFormatError(f"{node.name}: only NHWC convolutions are supported")
            stride, dilation = _attr_ints(node, "strides")[1:3], (_attr_ints(node, "dilations") or (1, 1, 1, 1))[1:3]
            same = _attr_string(node, "padding") == "SAME"
            bias = args[2] if len(args) > 2 else None  # folded in by `fold_constants`
            if op == "Conv2D":
                return conv2d_nhwc(x, kernel.permute(3, 2, 0, 1), bias, stride, dilation, same)
            h, w, i, m = kernel.shape
            return conv2d_nhwc(x, kernel.permute(2, 3, 0, 1).reshape(i * m, 1, h, w), bias, stride, dilation, same,
                               groups=i)
        if op == "Clip":
            return args[0].clamp(node.attr["low"], node.attr["high"])
        if op in ("Add", "AddV2", "BiasAdd"):
            return args[0] + args[1]
        if op == "Sub":
            return args[0] - args[1]
        if op == "Mul":
            return args[0] * args[1]
        if op == "Relu":
            return F.relu(args[0])
        if op == "Relu6":
            return args[0].clamp(0, 6)
        if op == "Minimum":
            return torch.minimum(args[0], args[1])
        if op == "Maximum":
            return torch.maximum(args[0], args[1])
        if op == "Mean":
            axes = self.integers[node.inputs[1]]
            return args[0].mean(dim=axes, keepdim=bool(node.attr.get("keep_dims", {}).get("b", False)))
        if op in ("MatMul", "_FusedMatMul"):
            return self._matmul(node, args)
        if op == "Sigmoid":
            return torch.sigmoid(args[0])
        if op == "Softmax":
            return torch.softmax(args[0], dim=-1)
        return args[0]  # Identity

    @staticmethod
    def _matmul(node: Node, args: list[torch.Tensor | None]) -> torch.Tensor:
        a, b = args[0], args[1]
        if node.attr.get("transpose_a", {}).get("b"):
            a = a.transpose(-1, -2)
        if node.attr.get("transpose_b", {}).get("b"):
            b = b.transpose(-1, -2)
        out = a @ b
        for fused in node.attr.get("fused_ops", {}).get("list", {}).get("s", []):
            step = base64.b64decode(fused).decode()
            if step == "BiasAdd":
                out = out + args[2]
            elif step == "Relu":
                out = F.relu(out)
            else:
                raise TfjsFormatError(f"{node.name}: fused {step} is not supported")
        return out
