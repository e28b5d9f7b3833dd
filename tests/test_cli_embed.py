"""`audit embed` on a corpus of every kind of awkward file: it exits 0 and explains each skip."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from audit.cli import main


def _png_header_bomb(path: Path, side: int = 20000) -> None:
    """A valid 20000×20000 greyscale PNG (all black), ~400 KB on disk, 400 MP decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def corpus(lfw_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    person = root / "person"
    person.mkdir()
    source = lfw_root / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    other = lfw_root / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    photo = Image.open(source)
    shutil.copy(source, person / "plain.jpg")
    data = source.read_bytes()
    (person / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (person / "empty.jpg").write_bytes(b"")
    (person / "text.jpg").write_text("this is not a photo\n")
    photo.convert("L").save(person / "grey.jpg")
    rgba = photo.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(person / "alpha.png")
    photo.convert("CMYK").save(person / "cmyk.jpg")
    grey16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(grey16).save(person / "sixteen.png")
    assert Image.open(person / "sixteen.png").mode.startswith("I")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: "rotate 90° clockwise to display"
    photo.transpose(Image.Transpose.ROTATE_90).save(person / "rotated.jpg", exif=exif.tobytes())
    noise = np.random.default_rng(0).integers(0, 255, (240, 240, 3), dtype=np.uint8)
    Image.fromarray(noise).resize((480, 480)).save(person / "no_face.png")
    two = Image.new("RGB", (500, 250))
    two.paste(photo, (0, 0))
    two.paste(Image.open(other), (250, 0))
    two.save(person / "two_faces.jpg")
    _png_header_bomb(person / "bomb.png")
    shutil.copy(source, person / "Zoë_Ñandú_写真.jpg")
    return root


EXPECTED_SKIPS = {
    "person/truncated.jpg": "truncated",
    "person/empty.jpg": "empty file",
    "person/text.jpg": "not a recognised image format",
    "person/no_face.png": "no face detected",
    "person/bomb.png": "image too large",
}


def test_embed_survives_bad_input(corpus, tmp_path):
    out = tmp_path / "emb.npz"
    result = CliRunner().invoke(main, ["embed", "--extractor", "dlib-resnet", str(corpus), "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = np.load(out)
    skipped = {path: reason for path, reason in saved["skipped"]}
    assert set(skipped) == set(EXPECTED_SKIPS), skipped
    for path, fragment in EXPECTED_SKIPS.items():
        assert fragment in skipped[path]
    embedded = list(saved["paths"])
    assert set(embedded) == {f"person/{n}" for n in ("plain.jpg", "grey.jpg", "alpha.png", "cmyk.jpg", "sixteen.png",
                                                      "rotated.jpg", "two_faces.jpg", "Zoë_Ñandú_写真.jpg")}
    assert saved["embeddings"].shape == (8, 128) and saved["embeddings"].dtype == np.float32
    assert set(saved["identities"]) == {"person"}
    # the file names its extractor, so a run can tell whether it may join a tracker's gallery
    assert str(saved["extractor"]) == "dlib-resnet" and str(saved["embedding_id"]).startswith("dlib-resnet")
    assert str(saved["pipeline"]).endswith(str(saved["embedding_id"]))
    vectors = dict(zip(embedded, saved["embeddings"]))
    plain = vectors["person/plain.jpg"]
    # the EXIF-rotated photo is embedded upright: the same face as the plain copy
    assert np.linalg.norm(vectors["person/rotated.jpg"] - plain) < 0.15
    assert np.linalg.norm(vectors["person/Zoë_Ñandú_写真.jpg"] - plain) < 1e-5
    for variant in ("grey.jpg", "alpha.png", "cmyk.jpg", "sixteen.png"):
        assert np.linalg.norm(vectors[f"person/{variant}"] - plain) < 0.4, variant


def test_embed_reports_an_empty_folder(tmp_path):
    result = CliRunner().invoke(main, ["embed", str(tmp_path), "--out", str(tmp_path / "x.npz")])
    assert result.exit_code != 0 and "no photos" in result.output


def test_embed_aligned_chips_only_resizes(lfw_root, tmp_path, dlib_resnet):
    """--aligned takes chips as they are: a 150×150 chip embeds exactly as the module sees it."""
    from audit.images import read_image

    chips = tmp_path / "chips" / "someone"
    chips.mkdir(parents=True)
    image = read_image(lfw_root / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")[50:200, 50:200]
    Image.fromarray(image).save(chips / "chip.png")
    out = tmp_path / "aligned.npz"
    result = CliRunner().invoke(main, ["embed", "--aligned", str(tmp_path / "chips"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    import torch

    expected = dlib_resnet.embed(torch.from_numpy(image.copy()).permute(2, 0, 1)[None])
    assert np.abs(np.load(out)["embeddings"] - expected).max() < 1e-4
