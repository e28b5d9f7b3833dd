"""Re-derive where MTCNN's five points sit in dlib's face chip (audit/face/templates.py).

For LFW photos where dlib's HOG detector finds exactly one face, dlib's 5-point landmarks
define the chip that `dlib.get_face_chip` cuts; MTCNN's landmarks for the same face are mapped
into that chip and averaged. Needs dlib-bin (a test extra).

    python bench/derive_mtcnn_template.py [--photos 600]
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import numpy as np

from audit.face.align import apply_affine, chip_to_image_matrix, invert_affine
from audit.face.detection import DlibHogDetector, MtcnnDetector
from audit.face.templates import DLIB_CHIP, MTCNN_IN_DLIB_CHIP
from audit.images import read_image

LFW = Path(os.environ.get("AUDIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")) / "lfw"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=600)
    args = parser.parse_args()
    photos = sorted(LFW.glob("*/*.jpg"))
    random.Random(0).shuffle(photos)
    dlib_detector, mtcnn = DlibHogDetector(), MtcnnDetector()
    points = []
    for path in photos[: args.photos]:
        image = read_image(path)
        dlib_faces = dlib_detector.detect(image)
        mtcnn_faces = mtcnn.detect(image)
        if len(dlib_faces) != 1 or not mtcnn_faces:
            continue
        box = np.array(dlib_faces[0].box)
        centre = (box[:2] + box[2:]) / 2
        closest = min(mtcnn_faces, key=lambda f: np.linalg.norm((np.array(f.box[:2]) + f.box[2:]) / 2 - centre))
        to_chip = invert_affine(chip_to_image_matrix(dlib_faces[0].landmarks, DLIB_CHIP["dlib5"], 150))
        points.append(apply_affine(to_chip, closest.landmarks) / 150)
    points = np.array(points)
    print(f"{len(points)} photos with one dlib face and an MTCNN face")
    print("mean (unit chip coords):", np.round(points.mean(0), 4).tolist())
    print("sd (pixels of a 150 px chip):", np.round(points.std(0) * 150, 2).tolist())
    print("shift from the shipped template (px):",
          np.round(np.abs(points.mean(0) - np.array(MTCNN_IN_DLIB_CHIP)).max() * 150, 2))


if __name__ == "__main__":
    main()
