"""TensorFlow's convolution semantics in torch, shared by the TFLite and TF.js graph readers."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (the extra pixel goes after, not before)."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def conv2d_nhwc(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                dilation: tuple[int, int], same: bool, groups: int = 1) -> torch.Tensor:
    """A convolution on NHWC `x` with an OIHW weight, padded as TensorFlow pads (SAME or VALID)."""
    nchw = x.permute(0, 3, 1, 2)
    (sh, sw), (dh, dw) = stride, dilation
    padding = (0, 0)
    if same:
        top, bottom = same_padding(nchw.shape[2], weight.shape[2], sh, dh)
        left, right = same_padding(nchw.shape[3], weight.shape[3], sw, dw)
        if (top, left) == (bottom, right):
            padding = (top, left)  # symmetric: let the convolution pad, without a padded copy
        else:
            nchw = F.pad(nchw, (left, right, top, bottom))
    out = F.conv2d(nchw, weight, bias, stride=(sh, sw), padding=padding, dilation=(dh, dw), groups=groups)
    return out.permute(0, 2, 3, 1)


def frozen_weight(value: np.ndarray) -> torch.nn.Parameter:
    """An imported graph's constant as a parameter that takes no gradient: cloakers differentiate through it
    unchanged, and a tracker that fine-tunes the model (robust retraining) unfreezes it like any weight."""
    return torch.nn.Parameter(torch.from_numpy(value.copy()), requires_grad=False)
