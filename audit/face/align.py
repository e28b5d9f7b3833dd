"""Similarity alignment of faces to an extractor's template, done in torch.

The warp uses `affine_grid`/`grid_sample`, so gradients flow from the aligned chip back
to the full photo (cloakers optimise the photo through this step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AlignmentTemplate:
    """Where five landmarks land in a square chip, in unit coordinates of the chip.

    `scheme` names the landmark set the points belong to ("dlib5": dlib's 5-point eye corners
    and nose base; "mtcnn": eye centres, nose tip and mouth corners). `dlib_spread` says how
    the chip is cut: as dlib's `get_face_chip` does (see `chip_to_image_matrix`), or with the
    landmark fit taken as it is, as InsightFace's `norm_crop` warps ArcFace chips.
    """

    scheme: str
    points: tuple[tuple[float, float], ...]
    dlib_spread: bool = True

    def in_pixels(self, size: int) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float64) * size

    def matrix(self, face: FaceLike, size: int) -> np.ndarray:
        """The chip→photo matrix for a detected face."""
        if self.dlib_spread:
            return chip_to_image_matrix(face.landmarks, self, size)
        return similarity_transform(self.in_pixels(size), face.landmarks)

    @property
    def cache_id(self) -> str:
        return str(self.points) + ("" if self.dlib_spread else "|direct")


@dataclass(frozen=True)
class BoxAlignment:
    """No landmarks: a square around the detector's box, widened by `margin` of its larger side
    on every side, resampled to the chip (how models trained on detector crops see faces)."""

    margin: float

    def matrix(self, face: FaceLike, size: int) -> np.ndarray:
        x1, y1, x2, y2 = face.box
        side = max(x2 - x1, y2 - y1) * (1 + 2 * self.margin)
        step = side / size
        left, top = (x1 + x2 - side) / 2, (y1 + y2 - side) / 2
        return np.array([[step, 0.0, left + step / 2 - 0.5], [0.0, step, top + step / 2 - 0.5]])

    @property
    def cache_id(self) -> str:
        return f"box+{self.margin}"


class FaceLike(Protocol):
    box: tuple[float, float, float, float]
    landmarks: np.ndarray


Alignment = AlignmentTemplate | BoxAlignment


def dlib_chip_points(unit_points: np.ndarray, padding: float) -> np.ndarray:
    """dlib's `get_face_chip_details` mapping of template points into a padded unit chip."""
    return (padding + np.asarray(unit_points, dtype=np.float64)) / (1 + 2 * padding)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking src to dst.

    Umeyama's method, as dlib's `find_similarity_transform`; returns a 2×3 matrix.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    cov = d.T @ s / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(sigma) @ sign) / var_s
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - scale * rotation @ mu_s
    return matrix


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def chip_to_image_matrix(landmarks: np.ndarray, template: AlignmentTemplate, size: int) -> np.ndarray:
    """The 2×3 matrix taking chip pixel coordinates to photo pixel coordinates, as dlib does.

    dlib's `chip_details` keeps only the rotation, the scale and the photo point under the
    chip's centre `(size/2, size/2)` from the landmark fit; `extract_image_chip` then spreads
    the chip's first to last pixel centres over `size * scale - 1` photo pixels. Matching
    this reproduces `dlib.get_face_chip` to within its uint8 truncation.
    """
    fit = similarity_transform(template.in_pixels(size), landmarks)
    centre = apply_affine(fit, [[size / 2, size / 2]])[0]
    scale = float(np.linalg.norm(fit[:, 0]))
    linear = fit[:, :2] / scale * (size * scale - 1) / (size - 1)
    matrix = np.zeros((2, 3))
    matrix[:, :2] = linear
    matrix[:, 2] = centre - linear @ np.full(2, (size - 1) / 2)
    return matrix


def warp_chips(images: torch.Tensor, chip_to_image: torch.Tensor, size: int) -> torch.Tensor:
    """Sample `size`×`size` chips from images (N×C×H×W) with bilinear interpolation.

    `chip_to_image` (N×2×3) maps chip pixel centres (integer coordinates) to photo pixel
    coordinates; pixels outside the photo read as zero, like dlib's chip extraction.
    """
    n, _, h, w = images.shape
    m = chip_to_image.to(images)
    # normalised output coords u -> chip pixel j = ((u + 1) * size - 1) / 2
    to_pixels = images.new_tensor([[size / 2, 0, (size - 1) / 2],
                                   [0, size / 2, (size - 1) / 2],
                                   [0, 0, 1]])
    # photo pixel x -> normalised x_n = (2x + 1) / W - 1
    to_normalised = images.new_tensor([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1]])
    full = torch.cat([m, m.new_tensor([0, 0, 1]).expand(n, 1, 3)], dim=1)
    theta = (to_normalised @ full @ to_pixels)[:, :2]
    grid = F.affine_grid(theta, [n, images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
