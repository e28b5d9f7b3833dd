import numpy as np
import pytest
import torch

from audit.face._torchvision_shim import batched_nms, import_facenet_pytorch, nms
from audit.face.align import apply_affine, chip_to_image_matrix, invert_affine
from audit.face.detection import Face, MtcnnDetector, pick_face
from audit.face.templates import DLIB_CHIP
from audit.images import read_image
from tests.conftest import lfw_sample


def _reference_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(iou(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(int(i))
    return keep


@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_the_greedy_definition(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (60, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (60, 2))], axis=1)
    scores = rng.uniform(size=60)
    kept = nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5).tolist()
    assert kept == _reference_nms(boxes, scores, 0.5)


def test_batched_nms_never_suppresses_across_groups():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 10], [1.0, 1, 11, 11]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert sorted(batched_nms(boxes, scores, torch.tensor([0, 1, 0]), 0.5).tolist()) == [0, 1]
    assert batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), 0.5).numel() == 0


def test_facenet_pytorch_imports_without_a_working_torchvision():
    import sys

    facenet = import_facenet_pytorch()
    assert hasattr(facenet, "MTCNN")
    assert "torchvision" not in sys.modules or hasattr(sys.modules["torchvision"], "__file__")


def test_pick_face_prefers_the_most_central_of_the_large_faces():
    def face(x1, y1, side):
        return Face((x1, y1, x1 + side, y1 + side), 0.99, np.zeros((5, 2)))

    large_edge = face(0, 0, 50)
    tiny_centre = face(45, 45, 10)  # a bystander far smaller than the largest face
    subject_centre = face(30, 30, 40)  # 64% of the largest face's area, in the centre
    assert pick_face([large_edge, tiny_centre], (100, 100, 3)) is large_edge
    assert pick_face([large_edge, tiny_centre, subject_centre], (100, 100, 3)) is subject_centre
    assert pick_face([], (100, 100, 3)) is None


def test_mtcnn_template_agrees_with_dlib_alignment(lfw_root, dlib_reference):
    """MTCNN's points, mapped into the chip dlib cuts, sit on the derived template.

    The two detectors disagree photo by photo by a few pixels (noise no template removes);
    the template is right when that disagreement has no systematic offset.
    """
    detector, predictor, _ = dlib_reference
    mtcnn = MtcnnDetector()
    errors = []
    for path in lfw_sample(lfw_root, 30, seed=3):
        image = read_image(path)
        faces = detector(image, 1)
        found = pick_face(mtcnn.detect(image), image.shape)
        if len(faces) != 1 or found is None:
            continue
        landmarks = np.array([(p.x, p.y) for p in predictor(image, faces[0]).parts()], dtype=np.float64)
        to_chip = invert_affine(chip_to_image_matrix(landmarks, DLIB_CHIP["dlib5"], 150))
        errors.append(apply_affine(to_chip, found.landmarks) - DLIB_CHIP["mtcnn"].in_pixels(150))
    errors = np.array(errors)  # photos × 5 points × (x, y), chip pixels
    assert len(errors) >= 20
    offset = np.linalg.norm(errors.mean(axis=0), axis=1)
    assert offset.max() < 2.0, offset
    assert np.linalg.norm(errors, axis=2).mean() < 6.0
