"""MTCNN over a batch of photos, with facenet-pytorch's networks and weights.

facenet-pytorch's `detect_face` spends most of a photo's time outside its networks: a Python
loop that crops and resizes every candidate box one at a time, a non-maximum suppression that
runs box by box in torch, and channels-first pooling. This module runs the same three stages
(the same pyramid, thresholds, box regression and suppression rules) with the per-box work
vectorized: the pyramid's levels and the candidate crops are read from a summed-area table of
each photo, the suppression runs in numpy, and the networks run in chunks small enough for the
processor's cache on a CPU, P-Net channels-last, R-Net's and O-Net's convolutions on oneDNN's
blocked tensors. Photos of one size go through together.
Boxes and landmarks agree with facenet-pytorch's one-photo-at-a-time results to float rounding
(tests/face/test_mtcnn.py checks 200 LFW photos).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from audit.devices import exact_float32

PYRAMID_FACTOR = 0.709  # each pyramid level's scale over the previous one's (MTCNN's and facenet's)
PNET_STRIDE, PNET_CELL = 2, 12  # P-Net's output grid: one 12×12 window every 2 pixels
# input pixels a network takes at once on a CPU: a chunk's activations then stay in the processor's
# cache between layers; R-Net and O-Net run ~2.5x faster on 150,000-pixel chunks than on a whole batch
CHUNK_PIXELS = 150_000
NORMALISE = (127.5, 0.0078125)  # pixels → (pixel - 127.5) / 128, as the networks were trained


class BatchedMtcnn:
    """P-Net → R-Net → O-Net over N photos of one size; `detect` returns each photo's boxes and points."""

    def __init__(self, min_face_size: int, thresholds: tuple[float, float, float],
                 device: torch.device = torch.device("cpu")) -> None:
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.device = torch.device(device)
        self._load_networks()

    def to(self, device: torch.device) -> "BatchedMtcnn":
        """Run the three networks and the crops on `device` (suppression stays in numpy on the CPU)."""
        if torch.device(device) != self.device:
            self.device = torch.device(device)
            self._load_networks()
        return self

    def _load_networks(self) -> None:
        """facenet-pytorch's three networks on this detector's device, with the layers a CPU runs faster swapped for
        ones computing the same values."""
        from audit.face._torchvision_shim import import_facenet_pytorch

        networks = import_facenet_pytorch().models.mtcnn
        self.pnet, self.rnet, self.onet = (net().eval().to(memory_format=torch.channels_last)
                                           for net in (networks.PNet, networks.RNet, networks.ONet))
        # P-Net's first layer has 10 channels, too few for torch's channels-last PReLU and pooling kernels
        self.pnet.prelu1 = RowsPReLU(self.pnet.prelu1.weight)
        self.pnet.pool1 = StridedMaxPool(self.pnet.pool1.kernel_size, self.pnet.pool1.stride)
        if self.device.type == "cpu" and torch.backends.mkldnn.is_available():  # a torch without oneDNN: as they are
            for network in (self.rnet, self.onet):
                convolutions_in_blocked_layout(network)
        for network in (self.pnet, self.rnet, self.onet):
            network.to(self.device)

    def scales(self, height: int, width: int) -> list[float]:
        """The image pyramid: from 12/min_face_size down while the shorter side keeps ≥ 12 px."""
        scale = 12.0 / self.min_face_size
        shortest = min(height, width) * scale
        scales = []
        while shortest >= 12:
            scales.append(scale)
            scale *= PYRAMID_FACTOR
            shortest *= PYRAMID_FACTOR
        return scales

    @torch.no_grad()
    def detect(self, photos: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """For an N×H×W×3 uint8 batch: per photo, its K×5 boxes (x1, y1, x2, y2, score) and K×5×2 points."""
        table = summed_area_table(torch.from_numpy(np.ascontiguousarray(photos)).to(self.device))
        boxes, owners = self._proposals(table)
        boxes, owners, _ = self._refine(self.rnet, table, boxes, owners, 24, self.thresholds[1])
        boxes, owners, points = self._refine(self.onet, table, boxes, owners, 48, self.thresholds[2])
        return [(boxes[owners == i], points[owners == i]) for i in range(len(photos))]

    def _proposals(self, table: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1: P-Net over the pyramid; windows kept by per-scale then per-photo suppression, regressed, squared."""
        height, width = table.shape[1] - 1, table.shape[2] - 1
        found, owners = [], []
        scales = self.scales(height, width)
        for scale in scales:
            level = area_resized(table, int(height * scale + 1), int(width * scale + 1))
            regression, probabilities = self._forward(self.pnet, normalised(level))
            score = probabilities[:, 1]
            photo, row, col = (score >= self.thresholds[0]).nonzero(as_tuple=True)
            grid = torch.stack([col, row], 1).float()
            windows = torch.cat([((PNET_STRIDE * grid + 1) / scale).floor(),
                                 ((PNET_STRIDE * grid + PNET_CELL) / scale).floor(),
                                 score[photo, row, col, None], regression[photo, :, row, col]], 1).cpu().numpy()
            owner = photo.cpu().numpy()
            keep = suppress(windows[:, :4], windows[:, 4], owner, 0.5)
            found.append(windows[keep])
            owners.append(owner[keep])
        windows, owner = np.concatenate(found), np.concatenate(owners)
        if level_overlap_bound(scales) < 0.7 - 1e-3:  # the suppression at 0.7 would keep all (1e-3: float32 margin)
            keep = ranked(windows[:, 4], owner)
        else:
            keep = suppress(windows[:, :4], windows[:, 4], owner, 0.7)
        windows, owner = windows[keep], owner[keep]
        size = windows[:, 2:4] - windows[:, 0:2]
        boxes = np.concatenate([windows[:, 0:2] + windows[:, 5:7] * size,
                                windows[:, 2:4] + windows[:, 7:9] * size, windows[:, 4:5]], 1)
        return squared(boxes), owner

    def _forward(self, network: torch.nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The network's outputs for N×3×h×w inputs, chunk by chunk on a CPU (whole on a GPU, in full float32 so that
        it finds the CPU's faces)."""
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        if self.device.type != "cpu":
            with exact_float32():
                return network(inputs)
        per_chunk = max(1, CHUNK_PIXELS // (inputs.shape[2] * inputs.shape[3]))
        return tuple(torch.cat(parts) for parts in zip(*(network(chunk) for chunk in inputs.split(per_chunk))))

    def _refine(self, network: torch.nn.Module, table: torch.Tensor, boxes: np.ndarray, owners: np.ndarray,
                size: int, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stages 2 and 3: score each box's crop, keep those above threshold, suppress, regress.

        O-Net (size 48) also gives the five points, and suppresses by intersection over the smaller
        box after regression; R-Net (size 24) by intersection over union before it, then squares.
        """
        height, width = table.shape[1] - 1, table.shape[2] - 1
        y, y_end, x, x_end = crop_bounds(boxes, width, height)
        usable = (y_end > y - 1) & (x_end > x - 1)
        boxes, owners, y, y_end, x, x_end = (a[usable] for a in (boxes, owners, y, y_end, x, x_end))
        if len(boxes) == 0:
            return np.zeros((0, 5), np.float32), owners, np.zeros((0, 5, 2), np.float32)
        crops = area_crops(table, owners, y - 1, y_end, x - 1, x_end, size)
        outputs = self._forward(network, normalised(crops))
        regression, scores = outputs[0].cpu().numpy(), outputs[-1][:, 1].cpu().numpy()
        passed = scores > threshold
        boxes = np.concatenate([boxes[passed, :4], scores[passed, None]], 1)
        owners, regression = owners[passed], regression[passed]
        box_size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        if network is self.rnet:
            keep = suppress(boxes[:, :4], boxes[:, 4], owners, 0.7)
            boxes, owners = regressed(boxes[keep], regression[keep], box_size[keep]), owners[keep]
            return squared(boxes), owners, np.zeros((len(boxes), 5, 2), np.float32)
        relative = outputs[1].cpu().numpy()[passed]
        points = np.stack([box_size[:, None, 0] * relative[:, :5] + boxes[:, None, 0] - 1,
                           box_size[:, None, 1] * relative[:, 5:] + boxes[:, None, 1] - 1], 2)
        boxes = regressed(boxes, regression, box_size)
        keep = suppress(boxes[:, :4], boxes[:, 4], owners, 0.7, over_smaller=True)
        return boxes[keep], owners[keep], points[keep]


class RowsPReLU(torch.nn.Module):
    """PReLU of a channels-last N×C×H×W tensor read as N·H rows of W·C values, each channel's weight repeated
    along a row: the same values. On a CPU, for P-Net's 10 channels, ~8x faster than torch's channels-last
    kernel, which goes pixel by pixel; from 16 channels on, torch's own is as fast."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not inputs.is_contiguous(memory_format=torch.channels_last):
            return F.prelu(inputs, self.weight)
        n, channels, height, width = inputs.shape
        rows = inputs.permute(0, 2, 3, 1).reshape(n * height, width * channels)
        return F.prelu(rows, self.weight.repeat(width)).reshape(n, height, width, channels).permute(0, 3, 1, 2)


def convolutions_in_blocked_layout(network: torch.nn.Module) -> None:
    """Swap R-Net's or O-Net's convolutions for oneDNN's on its blocked layout, the first taking the dense input and
    the last giving a dense output to the dense layers; the PReLUs and poolings between them take the blocked tensors
    as they are. On a CPU these stacks then run 1.3x faster than channels-last, where every layer's output is laid
    out anew and pooling also writes the place of each maximum. The outputs are those of facenet-pytorch's own
    channels-first networks (to the bit on the machines we test: torch convolves those through oneDNN's layout too)."""
    convolutions = [name for name, layer in network.named_children() if isinstance(layer, torch.nn.Conv2d)]
    for name in convolutions:
        setattr(network, name, BlockedConv2d(getattr(network, name), dense_output=name == convolutions[-1]))


class BlockedConv2d(torch.nn.Module):
    """A convolution computed by oneDNN on its blocked-layout (mkldnn) tensors, for a CPU."""

    def __init__(self, convolution: torch.nn.Conv2d, dense_output: bool) -> None:
        super().__init__()
        self.weight = convolution.weight.detach().to_mkldnn()
        self.bias = convolution.bias.detach()
        self.padding, self.stride = convolution.padding, convolution.stride
        self.dilation, self.groups = convolution.dilation, convolution.groups
        self.dense_output = dense_output

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        blocked = inputs if inputs.is_mkldnn else inputs.to_mkldnn()
        outputs = torch.mkldnn_convolution(blocked, self.weight, self.bias, self.padding, self.stride, self.dilation,
                                           self.groups)
        return outputs.to_dense() if self.dense_output else outputs

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, kernel_size={tuple(self.weight.shape[2:])}"


class StridedMaxPool(torch.nn.Module):
    """`nn.MaxPool2d(kernel, stride, ceil_mode=True)` as the maximum of strided views, rows then columns: the
    same values. On a CPU, for P-Net's channels-last 10 channels, 4-9x faster than torch's kernel, which there
    works pixel by pixel and also writes the indices of the maxima (R-Net's and O-Net's larger chunks of 28-32
    channels pool faster in torch's own, reading memory once)."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        (height, rows), (width, cols) = (self._span(inputs.shape[2]), self._span(inputs.shape[3]))
        if height > inputs.shape[2] or width > inputs.shape[3]:  # ceil mode: the last windows run off the edge
            inputs = F.pad(inputs, (0, width - inputs.shape[3], 0, height - inputs.shape[2]), value=-math.inf)
        reach = self.stride * (rows - 1) + 1
        pooled = inputs[:, :, :reach : self.stride]
        for offset in range(1, self.kernel):
            pooled = torch.maximum(pooled, inputs[:, :, offset : offset + reach : self.stride])
        reach = self.stride * (cols - 1) + 1
        rows_pooled, pooled = pooled, pooled[:, :, :, :reach : self.stride]
        for offset in range(1, self.kernel):
            pooled = torch.maximum(pooled, rows_pooled[:, :, :, offset : offset + reach : self.stride])
        return pooled

    def _span(self, extent: int) -> tuple[int, int]:
        """(input extent the windows cover, windows): torch's ceil mode, where the last window starts inside."""
        windows = math.ceil((extent - self.kernel) / self.stride) + 1
        if (windows - 1) * self.stride >= extent:
            windows -= 1
        return (windows - 1) * self.stride + self.kernel, windows

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


def normalised(pixels: torch.Tensor) -> torch.Tensor:
    return torch.sub(pixels, NORMALISE[0]).mul_(NORMALISE[1])


def regressed(boxes: np.ndarray, regression: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Boxes moved by the network's corner offsets, given as fractions of the box's side."""
    moved = boxes.copy()
    moved[:, 0:2] += regression[:, 0:2] * size
    moved[:, 2:4] += regression[:, 2:4] * size
    return moved


def squared(boxes: np.ndarray) -> np.ndarray:
    """Each box grown about its centre to a square on its longer side."""
    out = boxes.copy()
    size = boxes[:, 2:4] - boxes[:, 0:2]
    side = size.max(1, keepdims=True)
    out[:, 0:2] = boxes[:, 0:2] + size * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side
    return out


def crop_bounds(boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, ...]:
    """1-based inclusive pixel bounds (y, y_end, x, x_end) of each box, truncated and clipped to the photo."""
    whole = np.trunc(boxes[:, :4]).astype(np.int64)
    x, y = np.maximum(whole[:, 0], 1), np.maximum(whole[:, 1], 1)
    x_end, y_end = np.minimum(whole[:, 2], width), np.minimum(whole[:, 3], height)
    return y, y_end, x, x_end


def summed_area_table(pixels: torch.Tensor) -> torch.Tensor:
    """N×(H+1)×(W+1)×C running sums of N×H×W×C whole pixel values (uint8 photos as decoded: converting them
    to float first cost a third of the table's time, and 4x the bytes sent to a GPU), exact in integers (so no
    rounding however large the rectangle): any rectangle's sum costs four lookups."""
    photos, height, width, channels = pixels.shape
    exact = torch.int32 if height * width * 255 < 2**31 else torch.int64
    table = pixels.new_empty((photos, height + 1, width + 1, channels), dtype=exact)
    table[:, 0], table[:, 1:, 0] = 0, 0
    sums = table[:, 1:, 1:]  # summed in place: 1.4x faster than summing into new tensors, then padding
    sums.copy_(pixels)
    sums.cumsum_(2).cumsum_(1)
    return table


def area_resized(table: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The photos of a summed-area table resampled to height × width (N×C×h×w, channels-last), equal to the
    last bit to torch's `area` interpolation: output cell i averages input rows floor(i·H/h) to ceil((i+1)·H/h),
    the sum divided by the window's height, then its width, as torch divides. Both sums are exact while under
    2^24 (windows under 65,793 pixels: any pyramid level of a photo up to 3,000 px on its shorter side)."""

    def windows(extent: int, cells: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.arange(cells, device=table.device)
        return index * extent // cells, ((index + 1) * extent + cells - 1) // cells

    (top, bottom), (left, right) = windows(table.shape[1] - 1, height), windows(table.shape[2] - 1, width)
    rows = table.index_select(1, bottom) - table.index_select(1, top)
    photos, tall_rows, columns, channels = rows.shape
    flat = rows.view(photos * tall_rows, columns * channels)
    channel = torch.arange(channels, device=table.device)

    def at(column: torch.Tensor) -> torch.Tensor:
        """The rows' values at these columns: a gather of single values, 3x faster than selecting 3-value pixels."""
        return flat.gather(1, (column[:, None] * channels + channel).view(1, -1).expand(len(flat), -1))

    sums = (at(right) - at(left)).view(photos, tall_rows, width, channels)
    tall, wide = (bottom - top).float()[:, None, None], (right - left).float()[None, :, None]
    return sums.float().div_(tall).div_(wide).permute(0, 3, 1, 2)


def area_crops(table: torch.Tensor, owners: np.ndarray, top: np.ndarray, bottom: np.ndarray,
               left: np.ndarray, right: np.ndarray, size: int) -> torch.Tensor:
    """Each rectangle [top, bottom) × [left, right) of photo `owners[k]`, area-resampled to size×size.

    Output cell i averages input rows floor(i·h/size) to ceil((i+1)·h/size), as torch's `area`
    interpolation (adaptive average pooling) does, read from the summed-area table.
    """
    photos, rows, cols, channels = table.shape
    cells = torch.arange(size + 1, dtype=torch.float64)

    def edges(start: np.ndarray, end: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        start_t, length = torch.from_numpy(start)[:, None], torch.from_numpy(end - start)[:, None].double()
        first = (cells[None, :-1] * length / size).floor().long()
        last = (cells[None, 1:] * length / size).ceil().long()
        return start_t + first, start_t + last

    r0, r1 = (r[:, :, None] * cols for r in edges(top, bottom))
    c0, c1 = (c[:, None, :] for c in edges(left, right))
    base = torch.from_numpy(owners)[:, None, None] * (rows * cols)
    flat = table.reshape(-1, channels)

    def at(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return flat.index_select(0, (base + r + c).reshape(-1).to(flat.device))  # 3x faster than flat[...]

    sums = at(r1, c1)
    sums -= at(r0, c1)  # in place: 2x faster
    sums -= at(r1, c0)
    sums += at(r0, c0)
    area = ((r1 - r0) // cols * (c1 - c0)).reshape(-1, 1).to(flat.device)
    # a float32 quotient of integers exact in float32 is the double quotient rounded to float32 (53 >= 2*24 + 2
    # bits: rounding twice is innocuous), so doubles are needed only for sums past 2^24
    exact = torch.float32 if int(area.max()) * 255 < 2**24 else torch.float64
    crops = sums.to(exact) / area.to(exact)
    return crops.float().reshape(len(owners), size, size, channels).permute(0, 3, 1, 2)


def level_overlap_bound(scales: list[float]) -> float:
    """The largest intersection over union of two P-Net windows from different pyramid levels: at most the smaller's
    area over the larger's. At scale s a window spans floor((2g + 12)/s) - floor((2g + 1)/s) pixels each way:
    floor(11/s) or ceil(11/s). For any min_face_size from 12 up the bound is at most 0.58, so the suppression
    across levels at 0.7 could drop only windows of one level, and the one within each level at 0.5 left none
    overlapping by more."""
    spans = [(PNET_CELL - 1) / scale for scale in scales]
    ratios = [math.ceil(fine) ** 2 / max(math.floor(coarse), 1) ** 2 for fine, coarse in zip(spans, spans[1:])]
    return max(ratios, default=0.0)


def ranked(scores: np.ndarray, groups: np.ndarray, over_smaller: bool = False) -> np.ndarray:
    """Indices group by group in ascending order, each group's by descending score, equal scores ordered as
    facenet-pytorch orders them: torch's descending argsort, or numpy's ascending argsort read backwards for
    MTCNN's last stage (`over_smaller`)."""
    order = []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        if over_smaller:
            order.append(members[np.argsort(scores[members])[::-1]])
        else:
            order.append(members[torch.from_numpy(scores[members]).argsort(descending=True).numpy()])
    return np.concatenate(order) if order else np.zeros(0, np.int64)


def suppress(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float,
             over_smaller: bool = False) -> np.ndarray:
    """Greedy non-maximum suppression within each group, highest score first; indices kept, group by
    group in ascending order, each group's in the order they were kept.

    Overlap is intersection over union with areas (x2-x1)·(y2-y1), as torchvision's `nms`, or
    with `over_smaller` intersection over the smaller box with +1 pixel sides, as MTCNN's last
    stage. Arithmetic is float32 and equal scores are ordered as facenet-pytorch orders them
    (torch's descending argsort; numpy's ascending argsort read backwards), so that a photo in a
    batch keeps the boxes it keeps alone, even among the many windows whose scores saturate at 1.
    The groups run in lockstep: each round keeps every group's best remaining box and drops the
    boxes it overlaps, so the rounds number the most boxes any one group keeps, not all of them.
    """
    extra = np.float32(1.0 if over_smaller else 0.0)
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, i], dtype=np.float32) for i in range(4))
    area = (x2 - x1 + extra) * (y2 - y1 + extra)
    alive = ranked(scores, groups, over_smaller)
    kept, rounds = [], []
    while alive.size:
        owner = groups[alive]
        first = np.ones(alive.size, bool)
        first[1:] = owner[1:] != owner[:-1]  # each group's best remaining box leads its run
        starts = np.flatnonzero(first)
        best = alive[starts]
        kept.append(best)
        rounds.append(np.full(best.size, len(rounds)))
        best = np.repeat(best, np.diff(np.append(starts, alive.size)))  # each box's group's best
        width = np.maximum(0, np.minimum(x2[best], x2[alive]) - np.maximum(x1[best], x1[alive]) + extra)
        height = np.maximum(0, np.minimum(y2[best], y2[alive]) - np.maximum(y1[best], y1[alive]) + extra)
        overlap = width * height
        with np.errstate(invalid="ignore", divide="ignore"):  # a degenerate box against itself
            overlap /= np.minimum(area[best], area[alive]) if over_smaller else area[best] + area[alive] - overlap
        alive = alive[(overlap <= threshold) & ~first]
    if not kept:
        return np.zeros(0, np.int64)
    kept_boxes = np.concatenate(kept)
    return kept_boxes[np.lexsort((np.concatenate(rounds), groups[kept_boxes]))].astype(np.int64)
