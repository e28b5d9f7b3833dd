"""Any image a scraper may meet is embedded or skipped with a reason, never an exception.

Property-based (hypothesis): images of random size (1 px to a few thousand, any aspect ratio),
mode, file format, file suffix and content go through the face pipeline, with each face
detector, and through `audit embed` beside a real LFW face that must still be embedded.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from audit.cli import main
from audit.embedding.pipeline import FacePipeline
from audit.images import IMAGE_SUFFIXES

MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F")
FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
MAX_SIDE = 4000
MAX_AREA = 1_500_000  # keeps a draw under a few seconds for dlib's HOG detector on 2 cores


def writable(mode: str, fmt: str) -> bool:
    try:
        Image.new(mode, (2, 2)).save(io.BytesIO(), format=fmt)
        return True
    except (OSError, KeyError, ValueError):
        return False


FORMATS_FOR = {mode: [f for f in FORMATS if writable(mode, f)] for mode in MODES}


def pixels(mode: str, width: int, height: int, content: str, seed: int) -> Image.Image:
    """An image of `mode` whose values are noise, flat, a gradient, or the mode's extremes."""
    rng = np.random.default_rng(seed)
    kind = {"I;16": np.uint16, "I": np.int32, "F": np.float32}.get(mode, np.uint8)
    low, high = {np.uint16: (0, 65535), np.int32: (-2**31, 2**31 - 1), np.float32: (-1e30, 1e30)}.get(kind, (0, 255))
    if content == "noise":
        values = rng.uniform(low if kind is not np.float32 else -300, high if kind is not np.float32 else 300,
                             (height, width))
    elif content == "flat":
        values = np.full((height, width), rng.uniform(0, 255))
    elif content == "gradient":
        values = np.add.outer(np.linspace(0, 255, height), np.linspace(0, 255, width)) / 2
    else:
        values = np.where(rng.random((height, width)) < 0.5, low, high).astype(np.float64)
        if kind is np.float32:
            values[rng.random((height, width)) < 0.1] = np.nan
    if mode in ("I;16", "I", "F"):  # numpy's uint16, int32 and float32 arrays are these modes
        return Image.fromarray(np.clip(values, low, high).astype(kind) if kind is not np.float32
                               else values.astype(kind))
    grey = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
    if mode in ("RGB", "RGBA", "CMYK"):
        colour = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) if content == "noise" \
            else Image.merge("RGB", [grey] * 3)
        return colour.convert(mode)
    return grey.convert(mode)


@st.composite
def image_files(draw) -> tuple[bytes, str, str]:
    """(file bytes, suffix, description); the suffix may lie about the format, as scraped files do."""
    mode = draw(st.sampled_from(MODES))
    fmt = draw(st.sampled_from(FORMATS_FOR[mode]))
    side = draw(st.integers(1, MAX_SIDE))
    other = draw(st.integers(1, max(1, min(MAX_SIDE, MAX_AREA // side))))
    width, height = (side, other) if draw(st.booleans()) else (other, side)
    content = draw(st.sampled_from(("noise", "flat", "gradient", "extremes")))
    image = pixels(mode, width, height, content, draw(st.integers(0, 2**16)))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue(), draw(st.sampled_from(IMAGE_SUFFIXES)), f"{mode} {fmt} {width}x{height} {content}"


def encoded(width: int, height: int, mode: str = "RGB", fmt: str = "PNG", content: str = "flat"
            ) -> tuple[bytes, str, str]:
    """An explicit example, as `image_files` draws them."""
    buffer = io.BytesIO()
    pixels(mode, width, height, content, 0).save(buffer, format=fmt)
    return buffer.getvalue(), ".png", f"{mode} {fmt} {width}x{height}"


PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", params=["mtcnn", "dlib-hog"])
def pipeline(request, dlib_resnet) -> FacePipeline:
    return FacePipeline(dlib_resnet, face_detector=request.param)


@PROPERTY
@given(drawn=image_files())
@example(drawn=encoded(1, 1))
@example(drawn=encoded(4000, 3))
@example(drawn=encoded(3, 4000, "L", "JPEG"))
@example(drawn=encoded(19, 600))
@example(drawn=encoded(2500, 600, "RGB", "JPEG", "noise"))
@example(drawn=encoded(1200, 1200, "I;16", "PNG", "gradient"))
@example(drawn=encoded(900, 1400, "F", "TIFF", "extremes"))
def test_the_pipeline_embeds_or_skips_any_image(pipeline, tmp_path, drawn):
    data, suffix, what = drawn
    path = tmp_path / f"photo{suffix}"
    path.write_bytes(data)
    result = pipeline.embed_files([path], cache=None, progress=False)
    if result.paths:
        assert result.embeddings.shape == (1, 128) and np.isfinite(result.embeddings).all(), what
    else:
        (skipped, reason), = result.skipped
        assert skipped == path and reason.strip(), what
        if min(Image.open(io.BytesIO(data)).size) < pipeline.face_detector.smallest_side:
            assert reason.startswith("too small for the face detector"), (what, reason)


@settings(PROPERTY, max_examples=8)
@given(drawn=st.lists(image_files(), min_size=1, max_size=3))
@example(drawn=[encoded(1, 1), encoded(4000, 3)])
def test_audit_embed_skips_bad_images_and_embeds_the_rest(lfw_root, tmp_path_factory, drawn):
    folder = tmp_path_factory.mktemp("scraped")
    face = sorted((lfw_root / "Colin_Powell").glob("*.jpg"))[0]
    (folder / "face.jpg").write_bytes(face.read_bytes())
    for i, (data, suffix, _) in enumerate(drawn):
        (folder / f"image{i}{suffix}").write_bytes(data)
    out = folder.parent / f"{folder.name}.npz"
    run = CliRunner().invoke(main, ["embed", str(folder), "--out", str(out), "--no-cache"])
    assert run.exit_code == 0, (run.output, run.exception, [what for _, _, what in drawn])
    saved = np.load(out)
    assert "face.jpg" in list(saved["paths"])
    accounted = sorted([*saved["paths"], *saved["skipped"][:, 0]])
    assert accounted == sorted(p.name for p in folder.iterdir())
    assert all(reason.strip() for reason in saved["skipped"][:, 1])
    if drawn[0][2].endswith("1x1"):
        assert "too small for the face detector: 1×1" in run.output
