"""Five-point alignment templates, in unit coordinates of the aligned chip.

A template belongs to a chip frame (where the face sits in the extractor's input) and a
landmark scheme (which five points the detector returns): dlib's 5-point predictor gives eye
corners and the nose base, MTCNN gives eye centres, the nose tip and the mouth corners, so
each frame has one template per scheme.
"""

from __future__ import annotations

import numpy as np

from audit.face.align import AlignmentTemplate, dlib_chip_points

# dlib's get_face_chip_details (5-point case), before padding.
DLIB_5_POINTS = ((0.8595674595992, 0.2134981538014), (0.6460604764104, 0.2289674387677),
                 (0.1205750620789, 0.2137274526848), (0.3340850613712, 0.2290642403242),
                 (0.4901123135679, 0.6277975316475))
DLIB_PADDING = 0.25  # dlib's Python default for get_face_chip / compute_face_descriptor

# MTCNN's five points in the same chip (padding 0.25), measured: on 560 LFW photos where dlib
# found one face, MTCNN's landmarks mapped into the chip that dlib's own get_face_chip cuts,
# averaged (per-point SD 1.9-2.0 px for the eyes, 4.4-5.8 px for nose and mouth, in a 150 px
# chip). Re-derive with `python bench/derive_mtcnn_template.py`.
MTCNN_IN_DLIB_CHIP = ((0.3195, 0.3070), (0.6815, 0.3070), (0.4988, 0.5211),
                      (0.3408, 0.7041), (0.6596, 0.7045))

DLIB_CHIP = {
    "dlib5": AlignmentTemplate("dlib5", tuple(map(tuple, dlib_chip_points(np.array(DLIB_5_POINTS), DLIB_PADDING)))),
    "mtcnn": AlignmentTemplate("mtcnn", MTCNN_IN_DLIB_CHIP),
}

# The InsightFace / ArcFace 112×112 template for MTCNN-style points (eye centres, nose tip,
# mouth corners), the common frame for ONNX face models.
ARCFACE_CHIP = {
    "mtcnn": AlignmentTemplate("mtcnn", tuple(
        (x / 112, y / 112) for x, y in ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366),
                                        (41.5493, 92.3655), (70.7299, 92.2041)))),
}

CHIP_FRAMES = {"dlib": DLIB_CHIP, "arcface": ARCFACE_CHIP}
