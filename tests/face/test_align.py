import numpy as np
import torch

from audit.face.align import apply_affine, chip_to_image_matrix, similarity_transform, warp_chips
from audit.face.templates import DLIB_CHIP
from audit.images import read_image
from tests.conftest import lfw_sample


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ (scale * rot).T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], scale * rot) and np.allclose(matrix[:, 2], shift)


def test_warp_reproduces_dlib_get_face_chip(lfw_root, dlib_reference):
    """Same landmarks → the same chip as dlib's get_face_chip, up to dlib's uint8 truncation."""
    import dlib

    detector, predictor, _ = dlib_reference
    checked = 0
    for path in lfw_sample(lfw_root, 12, seed=2):
        image = read_image(path)
        faces = detector(image, 1)
        if not faces:
            continue
        shape = predictor(image, faces[0])
        reference = dlib.get_face_chip(image, shape, 150, 0.25).astype(np.float64)
        landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        matrix = chip_to_image_matrix(landmarks, DLIB_CHIP["dlib5"], 150)
        chip = warp_chips(torch.from_numpy(image).permute(2, 0, 1)[None].float(),
                          torch.from_numpy(matrix)[None].float(), 150)[0].permute(1, 2, 0).numpy()
        assert np.abs(np.floor(chip + 1e-3) - reference).mean() < 0.05
        checked += 1
    assert checked >= 8


def test_template_points_land_on_the_landmarks():
    template = DLIB_CHIP["mtcnn"]
    landmarks = template.in_pixels(150) * 0.8 + np.array([30.0, 10.0])
    matrix = chip_to_image_matrix(landmarks, template, 150)
    # chip pixel p maps to the photo; the template's own points map (up to dlib's stretch) onto the landmarks
    mapped = apply_affine(matrix, template.in_pixels(150) * (149 / 150) + 0.5 * (149 / 150))
    assert np.abs(mapped - landmarks).max() < 1.0


def test_gradients_flow_from_chip_to_photo():
    photo = torch.rand(1, 3, 60, 80, requires_grad=True)
    matrix = torch.tensor([[[0.5, 0.0, 10.0], [0.0, 0.5, 5.0]]])
    warp_chips(photo, matrix, 32).sum().backward()
    assert photo.grad is not None and photo.grad[0, :, 5:22, 10:27].abs().sum() > 0
    assert photo.grad[0, :, 40:, 50:].abs().sum() == 0  # outside the chip's footprint
