import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audit.face._torchvision_shim import import_facenet_pytorch
from audit.face.detection import MtcnnDetector, pick_face, same_size_batches
from audit.face import mtcnn
from audit.face.mtcnn import (PNET_CELL, PNET_STRIDE, BatchedMtcnn, BlockedConv2d, RowsPReLU, StridedMaxPool,
                              area_crops, area_resized, convolutions_in_blocked_layout, level_overlap_bound, ranked,
                              summed_area_table, suppress)
from audit.images import PhotoSkipped, read_image
from tests.conftest import lfw_sample
from tests.face.test_detection import _reference_nms


def test_batched_mtcnn_finds_what_facenet_finds_one_photo_at_a_time(lfw_root):
    """200 LFW photos in batches of 16: the same faces as facenet-pytorch's own loop, points within 0.5 px."""
    facenet = import_facenet_pytorch().MTCNN(keep_all=True, min_face_size=20, device="cpu",
                                             thresholds=list(MtcnnDetector.THRESHOLDS))
    images = [read_image(path) for path in lfw_sample(lfw_root, 200, seed=11)]
    batched = MtcnnDetector().find_many(images)
    worst, faces = 0.0, 0
    for image, found in zip(images, batched):
        boxes, _, points = facenet.detect(image, landmarks=True)
        assert len(found) == (0 if boxes is None else len(boxes))
        if boxes is None:
            continue
        faces += len(found)
        for box, landmarks in zip(boxes, points):
            match = min(found, key=lambda face: np.abs(np.asarray(face.box) - box).sum())
            worst = max(worst, np.abs(match.landmarks - landmarks).max(), np.abs(np.asarray(match.box) - box).max())
        chosen = pick_face(found, image.shape)
        order = np.argsort([np.abs(np.asarray(chosen.box) - box).sum() for box in boxes])
        assert np.abs(np.asarray(chosen.box) - boxes[order[0]]).max() <= 0.5  # the same face picked
    assert faces >= 200 and worst <= 0.5


def test_networks_take_cache_sized_chunks_on_a_cpu_and_find_what_whole_batches_find(lfw_root, monkeypatch):
    photos = np.stack([read_image(path) for path in lfw_sample(lfw_root, 16, seed=5)])
    detector = BatchedMtcnn(20, MtcnnDetector.THRESHOLDS)
    passes = []
    detector.rnet.register_forward_hook(lambda module, args, output: passes.append(len(args[0])))
    chunked = detector.detect(photos)
    assert len(passes) > 1 and max(passes) == mtcnn.CHUNK_PIXELS // 24**2
    monkeypatch.setattr(mtcnn, "CHUNK_PIXELS", 10**9)
    passes.clear()
    whole = detector.detect(photos)
    assert len(passes) == 1
    for (boxes, points), (whole_boxes, whole_points) in zip(chunked, whole):
        assert boxes.shape == whole_boxes.shape and len(boxes) > 0
        assert np.allclose(boxes, whole_boxes, atol=1e-3) and np.allclose(points, whole_points, atol=1e-3)


def test_photos_of_other_sizes_and_too_small_ones_in_one_call(lfw_root):
    photo = read_image(lfw_sample(lfw_root, 1, seed=2)[0])
    wide = np.ascontiguousarray(np.pad(photo, ((0, 0), (40, 40), (0, 0)), mode="edge"))
    detector = MtcnnDetector()
    tiny = photo[:10, :10]
    results = detector.detect_many([photo, tiny, wide, photo])
    assert isinstance(results[1], PhotoSkipped) and "too small" in results[1].reason
    alone = detector.find_faces(photo)
    for found in (results[0], results[3]):  # the same faces; a batch's chunks may round differently (1e-5 px)
        assert len(found) == len(alone)
        assert np.allclose([f.box for f in found], [f.box for f in alone], rtol=0, atol=1e-4)
    shifted = pick_face(results[2], wide.shape)
    assert np.abs(shifted.landmarks - pick_face(alone, photo.shape).landmarks - [40, 0]).max() < 1.5


def test_same_size_batches_respect_both_limits():
    images = [np.zeros((h, w, 3), np.uint8) for h, w in [(10, 10), (20, 10), (10, 10), (10, 10), (2000, 3000)]]
    batches = same_size_batches(images, most_photos=2, most_pixels=1_000_000)
    assert sorted(map(sorted, batches)) == [[0, 2], [1], [3], [4]]


@pytest.mark.parametrize("seed", range(4))
def test_suppress_is_greedy_nms_within_each_group(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (80, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (80, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(size=80).astype(np.float32)
    groups = rng.integers(0, 3, 80)
    kept = suppress(boxes, scores, groups, 0.5)
    expected = []
    for group in range(3):  # group by group, each in the order its boxes were kept
        members = np.flatnonzero(groups == group)
        expected += list(members[_reference_nms(boxes[members].astype(np.float64), scores[members], 0.5)])
        alone = suppress(boxes[members], scores[members], np.zeros(len(members), int), 0.5, over_smaller=True)
        in_batch = suppress(boxes, scores, groups, 0.5, over_smaller=True)
        assert list(members[alone]) == [k for k in in_batch if groups[k] == group]
    assert list(kept) == expected
    assert len(suppress(boxes[:0], scores[:0], groups[:0], 0.5)) == 0


@pytest.mark.parametrize("min_face_size", [12, 20, 40])
def test_windows_kept_within_each_level_are_all_kept_across_levels(min_face_size):
    """Why P-Net's suppression across pyramid levels at 0.7 is skipped: every window of a 100×100 photo's pyramid at
    random scores (many tied), suppressed within its level at 0.5 as P-Net's windows are, is kept by it."""
    rng = np.random.default_rng(min_face_size)
    scales = BatchedMtcnn(min_face_size, MtcnnDetector.THRESHOLDS).scales(100, 100)
    assert level_overlap_bound(scales) < 0.7
    kept = []
    for scale in scales:
        cells = (int(100 * scale + 1) - PNET_CELL) // PNET_STRIDE + 1
        grid = np.stack(np.meshgrid(np.arange(cells), np.arange(cells)), -1).reshape(-1, 2).repeat(2, 0)
        windows = np.concatenate([np.floor((PNET_STRIDE * grid + 1) / scale), np.floor((PNET_STRIDE * grid + PNET_CELL)
                                  / scale), rng.integers(0, 20, (len(grid), 1)) / 20], 1).astype(np.float32)
        owners = np.tile([0, 1], len(grid) // 2)
        keep = suppress(windows[:, :4], windows[:, 4], owners, 0.5)
        kept.append((windows[keep], owners[keep]))
    windows, owners = (np.concatenate(parts) for parts in zip(*kept))
    assert len(windows) > 50
    assert list(suppress(windows[:, :4], windows[:, 4], owners, 0.7)) == list(ranked(windows[:, 4], owners))
    assert level_overlap_bound([1.0, 0.9]) > 0.7  # a finer pyramid would need the suppression


@pytest.mark.parametrize("name, size", [("RNet", 24), ("ONet", 48)])
def test_networks_on_onednn_tensors_give_the_dense_outputs_in_a_batch_or_alone(name, size):
    network = getattr(import_facenet_pytorch().models.mtcnn, name)().eval()
    blocked = copy.deepcopy(network)
    convolutions_in_blocked_layout(blocked)
    assert sum(isinstance(layer, BlockedConv2d) for layer in blocked.children()) in (3, 4)
    crops = torch.rand(100, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        dense, onednn = network(crops), blocked(crops.contiguous(memory_format=torch.channels_last))
        alone = blocked(crops[7:8])
    for expected, got, one in zip(dense, onednn, alone):
        # equal here; another processor's kernels may sum in another order (a layer without its bias errs by 7e-3+)
        assert torch.allclose(got, expected, rtol=0, atol=1e-5)
        assert torch.allclose(one, got[7:8], rtol=0, atol=1e-5)  # the dense layers round by batch size, as before


def test_a_torch_without_onednn_keeps_the_dense_networks(lfw_root, monkeypatch):
    photos = np.stack([read_image(path) for path in lfw_sample(lfw_root, 4, seed=8)])
    onednn = BatchedMtcnn(20, MtcnnDetector.THRESHOLDS)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    dense = BatchedMtcnn(20, MtcnnDetector.THRESHOLDS)
    assert isinstance(onednn.rnet.conv1, BlockedConv2d) and isinstance(dense.rnet.conv1, torch.nn.Conv2d)
    for (boxes, points), (dense_boxes, dense_points) in zip(onednn.detect(photos), dense.detect(photos)):
        assert len(boxes) > 0 and np.allclose(boxes, dense_boxes, atol=1e-3)
        assert np.allclose(points, dense_points, atol=1e-3)


def test_area_crops_equal_torch_area_interpolation():
    rng = np.random.default_rng(0)
    pixels = torch.from_numpy(rng.integers(0, 256, (2, 61, 47, 3), dtype=np.uint8))
    images = pixels.permute(0, 3, 1, 2).float()
    owners, top, bottom = np.array([0, 1, 1]), np.array([0, 5, 30]), np.array([61, 29, 40])
    left, right = np.array([0, 7, 3]), np.array([47, 40, 46])
    crops = area_crops(summed_area_table(pixels), owners, top, bottom, left, right, 24)
    expected = torch.cat([F.interpolate(images[o : o + 1, :, t:b, l:r], size=(24, 24), mode="area")
                          for o, t, b, l, r in zip(owners, top, bottom, left, right)])
    assert torch.allclose(crops, expected, atol=1e-3)


def test_integers_below_2_24_divide_in_float32_as_in_float64_then_rounded():
    """Why area_crops may divide in float32: rounding the double quotient to float32 changes nothing."""
    rng = np.random.default_rng(3)
    sums, areas = (torch.from_numpy(rng.integers(low, 2**24, 1_000_000)) for low in (0, 1))
    assert torch.equal(sums.float() / areas.float(), (sums.double() / areas.double()).float())


@pytest.mark.parametrize("size", [(251, 180), (151, 109), (14, 11)])
def test_pyramid_levels_from_the_table_equal_torch_area_interpolation_to_the_last_bit(size):
    pixels = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 250, 179, 3), dtype=np.uint8))
    images = pixels.permute(0, 3, 1, 2).float()
    resized = area_resized(summed_area_table(pixels), *size)
    assert torch.equal(resized, F.interpolate(images, size=size, mode="area"))


@pytest.mark.parametrize("kernel", [2, 3])
@pytest.mark.parametrize("height, width", [(148, 148), (149, 75), (10, 11), (3, 2)])
def test_strided_max_pool_equals_torch_ceil_mode_pooling(kernel, height, width):
    inputs = torch.randn(3, 10, height, width).contiguous(memory_format=torch.channels_last)
    expected = torch.nn.MaxPool2d(kernel, 2, ceil_mode=True)(inputs)
    assert torch.equal(StridedMaxPool(kernel, 2)(inputs), expected)
    assert torch.equal(StridedMaxPool(kernel, 2)(inputs.contiguous()), expected)


@pytest.mark.parametrize("channels_last", [True, False])
def test_rows_prelu_equals_torch_prelu(channels_last):
    inputs = torch.randn(3, 10, 13, 7)
    inputs = inputs.contiguous(memory_format=torch.channels_last) if channels_last else inputs
    prelu = torch.nn.PReLU(10)
    torch.nn.init.uniform_(prelu.weight, -1.5, 1.5)
    with torch.no_grad():
        assert torch.equal(RowsPReLU(prelu.weight)(inputs), prelu(inputs))
