"""Where cloak-audit keeps data and caches: `$AUDIT_DATA` / `$AUDIT_CACHE`, else the user folders; `$AUDIT_MODELS`
names a folder of model files found before any is fetched."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

MODELS_ENV = "AUDIT_MODELS"  # a folder of model files (weights, LPIPS) looked in before fetching any


def cache_dir() -> Path:
    path = Path(os.environ.get("AUDIT_CACHE") or platformdirs.user_cache_dir("cloak-audit")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    return Path(os.environ.get("AUDIT_DATA") or platformdirs.user_data_dir("cloak-audit")).expanduser().resolve()


def history_file() -> Path:
    """`$AUDIT_HISTORY`, else cloak-audit's own user data folder: never `$AUDIT_DATA`, which may be a data set
    folder that several machines share, or one that is read-only."""
    default = Path(platformdirs.user_data_dir("cloak-audit")) / "history.sqlite"
    return Path(os.environ.get("AUDIT_HISTORY") or default).expanduser().resolve()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that readers see either nothing or all of it, even after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
