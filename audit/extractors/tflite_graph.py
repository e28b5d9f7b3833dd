"""A TensorFlow Lite flatbuffer as a differentiable PyTorch module.

The flatbuffer is read with the `tflite` package (the TFLite schema compiled for Python, on
`flatbuffers`); its float32 operators are executed in order by torch, NHWC as TFLite keeps
them, so gradients flow from the output to the input pixels and any batch size works. Only
the operators face-embedding graphs use are supported; another one is a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audit.extractors.tf_ops import conv2d_nhwc, frozen_weight

FLOAT32 = 0  # tflite.TensorType.FLOAT32


class TfliteFormatError(ValueError):
    """The file is not a float32 TFLite model this reader can execute."""


@dataclass(frozen=True)
class Operation:
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict


def _operator_names() -> dict[int, str]:
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


class TfliteModule(nn.Module):
    """Executes a TFLite graph's operators on NHWC float tensors; constants become buffers."""

    SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "SUB", "MUL", "RELU", "ABS", "RESHAPE")

    def __init__(self, data: bytes) -> None:
        super().__init__()
        import tflite

        try:
            model = tflite.Model.GetRootAsModel(data, 0)
            graph = model.Subgraphs(0)
        except Exception as err:  # flatbuffers raises many kinds on a bad file
            raise TfliteFormatError(f"not a TFLite flatbuffer ({err})") from None
        names = _operator_names()
        codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
        self.input_index = int(graph.InputsAsNumpy()[0])
        self.output_index = int(graph.OutputsAsNumpy()[0])
        self.constants: dict[int, str] = {}
        for index in range(graph.TensorsLength()):
            tensor = graph.Tensors(index)
            raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
            if isinstance(raw, np.ndarray) and raw.size:
                if tensor.Type() != FLOAT32:
                    continue  # integer constants (shapes) are read from the operator's options instead
                values = np.frombuffer(raw.tobytes(), dtype=np.float32).reshape(tensor.ShapeAsNumpy().tolist())
                self.register_parameter(f"t{index}", frozen_weight(values))
                self.constants[index] = f"t{index}"
        self.operations: list[Operation] = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = codes[op.OpcodeIndex()]
            kind = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
            if kind not in self.SUPPORTED:
                raise TfliteFormatError(f"operator {kind} is not supported (supported: {', '.join(self.SUPPORTED)})")
            self.operations.append(Operation(kind, tuple(int(j) for j in op.InputsAsNumpy()),
                                             tuple(int(j) for j in op.OutputsAsNumpy()), _options(kind, op)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[int, torch.Tensor] = {self.input_index: x}

        def read(index: int) -> torch.Tensor | None:
            if index in self.constants:
                return getattr(self, self.constants[index])
            return values.get(index)  # None for an integer constant (a shape), which no operator here reads

        for op in self.operations:
            args = [read(j) for j in op.inputs]
            values[op.outputs[0]] = _activation(_execute(op, args), op.options.get("activation", 0))
        return values[self.output_index]


def _options(kind: str, op) -> dict:
    import tflite

    table = op.BuiltinOptions()
    if kind == "CONV_2D":
        o = tflite.Conv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {"padding": o.Padding(), "stride": (o.StrideH(), o.StrideW()),
                "dilation": (o.DilationHFactor(), o.DilationWFactor()), "activation": o.FusedActivationFunction()}
    if kind == "DEPTHWISE_CONV_2D":
        o = tflite.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {"padding": o.Padding(), "stride": (o.StrideH(), o.StrideW()),
                "dilation": (o.DilationHFactor(), o.DilationWFactor()), "activation": o.FusedActivationFunction(),
                "multiplier": o.DepthMultiplier()}
    if kind in ("ADD", "SUB", "MUL") and table is not None:
        o = {"ADD": tflite.AddOptions, "SUB": tflite.SubOptions, "MUL": tflite.MulOptions}[kind]()
        o.Init(table.Bytes, table.Pos)
        return {"activation": o.FusedActivationFunction()}
    return {}


def _activation(x: torch.Tensor, kind: int) -> torch.Tensor:
    """TFLite's fused activations: NONE, RELU, RELU_N1_TO_1, RELU6."""
    if kind == 0:
        return x
    if kind == 1:
        return F.relu(x)
    if kind == 2:
        return x.clamp(-1, 1)
    if kind == 3:
        return x.clamp(0, 6)
    raise TfliteFormatError(f"fused activation {kind} is not supported")


def _convolve(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, options: dict,
              depthwise: bool = False) -> torch.Tensor:
    return conv2d_nhwc(x, weight, bias, options["stride"], options["dilation"], same=options["padding"] == 0,
                       groups=x.shape[3] if depthwise else 1)


def _execute(op: Operation, args: list[torch.Tensor]) -> torch.Tensor:
    if op.kind == "CONV_2D":
        x, weight, bias = args  # weight: O×H×W×I
        return _convolve(x, weight.permute(0, 3, 1, 2), bias, op.options)
    if op.kind == "DEPTHWISE_CONV_2D":
        x, weight, bias = args  # weight: 1×H×W×(I·multiplier)
        return _convolve(x, weight.permute(3, 0, 1, 2), bias, op.options, depthwise=True)
    if op.kind == "ADD":
        return args[0] + args[1]
    if op.kind == "SUB":
        return args[0] - args[1]
    if op.kind == "MUL":
        return args[0] * args[1]
    if op.kind == "RELU":
        return F.relu(args[0])
    if op.kind == "ABS":
        return args[0].abs()
    return args[0].flatten(1)  # RESHAPE: a face embedding's flatten, for any batch (and so when traced)
