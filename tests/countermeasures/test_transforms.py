"""Each transform changes what it should and nothing else; sweeps and the file store behave."""

import io

import numpy as np
import pytest
from PIL import Image

from audit.images import read_image
from countermeasures import build_countermeasures as build_transforms
from countermeasures.transforms import TRANSFORMS
from countermeasures.transforms.files import transform_files


@pytest.fixture(scope="module")
def face(lfw_root) -> np.ndarray:
    return read_image(sorted((lfw_root / "Tiger_Woods").glob("*.jpg"))[0])


def high_frequency_energy(image: np.ndarray) -> float:
    grey = image.astype(float).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


@pytest.mark.parametrize("spec", ["none", "blur:kernel=5", "noise:sigma=8", "jpeg:quality=30", "augment"])
def test_every_registered_transform_keeps_size_and_is_deterministic(spec, face):
    assert spec.partition(":")[0] in TRANSFORMS
    (transform,) = build_transforms(spec)
    out = transform(face, "key")
    assert out.shape == face.shape and out.dtype == np.uint8
    assert np.array_equal(out, transform(face, "key"))
    assert repr(transform).startswith(type(transform).__name__ + "(")
    assert set(TRANSFORMS) == {"none", "blur", "noise", "jpeg", "augment"}


def test_blur_smooths_edges_more_with_larger_kernels_and_keeps_flat_regions(face):
    flat = np.full((40, 40, 3), 97, np.uint8)
    energies = []
    for transform in build_transforms("blur:kernel=3,5,7"):
        assert np.array_equal(transform(flat, "k"), flat)  # nothing to smooth: unchanged
        out = transform(face, "k")
        assert abs(out.astype(float).mean() - face.astype(float).mean()) < 1.0  # brightness kept
        energies.append(high_frequency_energy(out))
    assert high_frequency_energy(face) > energies[0] > energies[1] > energies[2]


def test_noise_has_the_asked_spread_zero_mean_and_depends_on_the_photo():
    (transform,) = build_transforms("noise:sigma=8")
    grey = np.full((200, 200, 3), 128, np.uint8)
    difference = transform(grey, "a").astype(float) - grey
    assert abs(difference.mean()) < 0.2 and difference.std() == pytest.approx(8.0, rel=0.03)
    assert not np.array_equal(transform(grey, "a"), transform(grey, "b"))


def test_jpeg_is_a_real_progressive_encode_whose_loss_grows_as_quality_falls(face):
    errors = []
    for transform in build_transforms("jpeg:quality=90,30,10"):
        out = transform(face, "k")
        errors.append(np.abs(out.astype(float) - face).mean())
        reference = io.BytesIO()
        Image.fromarray(face).save(reference, format="JPEG", quality=transform.quality, progressive=True,
                                   optimize=True)
        with Image.open(reference) as decoded:
            assert decoded.info.get("progressive") == 1
            assert np.array_equal(out, np.asarray(decoded.convert("RGB")))
    assert 0 < errors[0] < errors[1] < errors[2]


def test_augmentation_moves_pixels_within_its_ranges_and_only_moves_them():
    (transform,) = build_transforms("augment:copies=3")
    rng = np.random.default_rng(0)
    for _ in range(200):
        matrix = transform.matrix(250, 250, rng)
        linear = matrix[:, :2]
        scales = np.linalg.svd(linear, compute_uv=False)
        assert 0.85 - 1e-9 <= scales.min() and scales.max() <= 1.15 + 1e-9
        centre = np.array([124.5, 124.5])
        assert np.all(np.abs(linear @ centre + matrix[:, 2] - centre) <= 0.15 * 250 + 1e-9)
    identity = build_transforms("augment:rotation=0,shift=0,zoom=0,flip=false")[0]
    photo = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    assert np.array_equal(identity(photo, "k"), photo)  # no geometry drawn: no pixel changes
    draws = transform.draws()
    assert len(draws) == 3 and not np.array_equal(draws[0](photo, "k"), draws[1](photo, "k"))


@pytest.mark.parametrize("spec, message", [
    ("blur:kernel=4", "odd positive"), ("jpeg:quality=99", "1..95"), ("noise:sigma=0", "positive"),
    ("augment:at=test", "unknown option"), ("blur:kernel=3,at=val", "at='val'"), ("sharpen", "unknown"),
])
def test_bad_countermeasure_options_are_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        build_transforms(spec)


def test_sweeps_expand_every_combination_and_keep_at_whole():
    specs = [t.spec for t in build_transforms("blur:kernel=3,5,sigma=1,2,at=train,test")]
    # every option written shows, defaults too (kernel=5 is blur's default), in the constructor's order
    assert specs == ["blur:kernel=3,sigma=1.0,at=[train,test]", "blur:kernel=3,sigma=2.0,at=[train,test]",
                     "blur:kernel=5,sigma=1.0,at=[train,test]", "blur:kernel=5,sigma=2.0,at=[train,test]"]
    for spelling in ("jpeg:quality=10,20,at=train,test", "jpeg:quality=10,20,at=[train,test]"):
        assert all(t.stages == ("train", "test") for t in build_transforms(spelling))


def test_transformed_files_are_stored_once_and_bad_files_are_skips(small_lfw, tmp_path):
    photos = sorted(small_lfw.glob("*/*.jpg"))[:3]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    (transform,) = build_transforms("jpeg:quality=10")
    first = transform_files(transform, photos + [broken])
    assert isinstance(first[broken], str)
    for photo in photos:
        assert np.array_equal(read_image(first[photo]), transform(read_image(photo), _digest(photo)))
    stamps = {p: first[p].stat().st_mtime_ns for p in photos}
    again = transform_files(transform, photos)
    assert {p: again[p].stat().st_mtime_ns for p in photos} == stamps  # reused, not rewritten


def _digest(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
