import hashlib
import io
import tarfile

import pytest

from audit.datasets import parse_pairs, resolve_dataset
from audit.datasets.lfw import download_lfw


def test_pairs_file_of_view_2(lfw_root):
    pairs = parse_pairs(lfw_root / "pairs.txt")
    assert len(pairs) == 6000 and {p.fold for p in pairs} == set(range(1, 11))
    first = pairs[0]
    assert (first.fold, first.first, first.second, first.same) == (
        1, "Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg", True)
    assert sum(p.same for p in pairs if p.fold == 1) == 300
    assert all((lfw_root / p.first).is_file() and (lfw_root / p.second).is_file() for p in pairs)


def test_malformed_pairs_file(tmp_path):
    bad = tmp_path / "pairs.txt"
    bad.write_text("1 1\nA 1 2\nB 1 C\n")
    with pytest.raises(ValueError, match="line 3"):
        parse_pairs(bad)
    bad.write_text("2 1\nA 1 2\n")
    with pytest.raises(ValueError, match="expected 4 pairs"):
        parse_pairs(bad)


def test_lfw_resolves_under_audit_data(lfw_root, monkeypatch):
    monkeypatch.setenv("AUDIT_DATA", str(lfw_root.parent))
    assert resolve_dataset("lfw") == lfw_root
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        resolve_dataset("/no/such/dataset")


def _archive(lfw_root) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for person in ("Abel_Pacheco", "Akhmed_Zakayev"):
            for photo in sorted((lfw_root / person).glob("*.jpg")):
                tar.add(photo, arcname=f"lfw-deepfunneled/{person}/{photo.name}")
    return buffer.getvalue()


def test_download_checks_md5_and_unpacks(lfw_root, tmp_path, monkeypatch):
    archive = tmp_path / "served" / "lfw-deepfunneled.tgz"
    archive.parent.mkdir()
    archive.write_bytes(_archive(lfw_root))
    pairs = archive.parent / "pairs.txt"
    pairs.write_text("1 1\nAbel_Pacheco 1 4\nAbel_Pacheco 1 Akhmed_Zakayev 3\n")
    md5 = lambda p: hashlib.md5(p.read_bytes()).hexdigest()  # noqa: E731
    root = tmp_path / "data" / "lfw"
    download_lfw(root, archive.as_uri(), md5(archive), pairs.as_uri(), md5(pairs))
    assert (root / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg").is_file()
    assert len(parse_pairs(root / "pairs.txt")) == 2
    # through resolve_dataset: an empty data folder triggers the download (with the official sums)
    monkeypatch.setenv("AUDIT_DATA", str(tmp_path / "data"))
    assert resolve_dataset("lfw") == root
    with pytest.raises(ValueError, match="checksum mismatch"):
        download_lfw(tmp_path / "other" / "lfw", archive.as_uri(), "0" * 32, pairs.as_uri(), md5(pairs))
    assert not (tmp_path / "other" / "lfw").exists()
    with pytest.raises(RuntimeError, match="could not download"):
        download_lfw(tmp_path / "x" / "lfw", (tmp_path / "absent.tgz").as_uri(), "0" * 32, pairs.as_uri(), md5(pairs))
