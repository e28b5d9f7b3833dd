"""What the built-in cloaks share: the region of the photo their chips read."""

import math

import numpy as np
import pytest
import torch

from audit.cloakers.feature_space import FrozenModel, chip_footprint, with_region


def chip_to_photo(scale: float, degrees: float, x: float, y: float) -> torch.Tensor:
    c, s = scale * math.cos(math.radians(degrees)), scale * math.sin(math.radians(degrees))
    return torch.tensor([[[c, -s, x], [s, c, y]]])


@pytest.mark.parametrize("offset", [(60.0, 55.0), (-30.0, 140.0)])  # inside the photo; hanging over its edge
def test_the_footprint_holds_every_pixel_a_chip_reads_and_little_more(offset):
    models = [FrozenModel(torch.nn.Identity(), chip_to_photo(0.8, 12, *offset), 150),
              FrozenModel(torch.nn.Identity(), chip_to_photo(1.1, -5, offset[0] + 10, offset[1]), 112)]
    photo = (torch.rand(1, 3, 250, 240) * 255).requires_grad_(True)
    sum(model.chips(photo).sum() for model in models).backward()
    read = photo.grad.abs().sum((0, 1)) > 0
    rows, cols = chip_footprint(models, 250, 240)
    outside = torch.ones_like(read)
    outside[rows, cols] = False
    assert not read[outside].any()
    read_rows, read_cols = np.nonzero(read.any(1).numpy())[0], np.nonzero(read.any(0).numpy())[0]
    assert read_rows.min() - 3 <= rows.start and rows.stop <= read_rows.max() + 4
    assert read_cols.min() - 3 <= cols.start and cols.stop <= read_cols.max() + 4
    assert 0 <= rows.start and rows.stop <= 250 and 0 <= cols.start and cols.stop <= 240


def test_with_region_replaces_only_the_region_and_passes_its_gradient():
    photos = torch.zeros(2, 3, 10, 12)
    region = torch.ones(2, 3, 4, 5, requires_grad=True)
    pasted = with_region(photos, region, slice(3, 7), slice(2, 7))
    assert pasted.sum() == region.numel() and (photos == 0).all()
    (pasted * 2).sum().backward()
    assert (region.grad == 2).all()
