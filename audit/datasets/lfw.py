"""LFW: the View 2 `pairs.txt` protocol, and finding (or downloading) the deep-funneled photos."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from audit.paths import data_dir

LFW_ARCHIVE_URL = "http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz"
LFW_ARCHIVE_MD5 = "68331da3eb755a505a502b5aacb3c201"
LFW_PAIRS_URL = "http://vis-www.cs.umass.edu/lfw/pairs.txt"
LFW_PAIRS_MD5 = "9f1ba174e4e1c508ff7cdf10ac338a7d"


@dataclass(frozen=True)
class Pair:
    fold: int  # 1-based
    first: str  # path relative to the LFW root
    second: str
    same: bool


def _photo(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def parse_pairs(path: str | Path) -> list[Pair]:
    """Parse View 2 `pairs.txt`: a `folds n` header, then per fold n matched and n mismatched pairs."""
    lines = [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or len(lines[0]) != 2:
        raise ValueError(f"{path}: the first line must be '<folds> <pairs per fold>'")
    folds, per_fold = (int(x) for x in lines[0])
    body = lines[1:]
    if len(body) != folds * 2 * per_fold:
        raise ValueError(f"{path}: expected {folds * 2 * per_fold} pairs, found {len(body)}")
    pairs = []
    for i, fields in enumerate(body):
        fold = i // (2 * per_fold) + 1
        try:
            if len(fields) == 3:
                pairs.append(Pair(fold, _photo(fields[0], fields[1]), _photo(fields[0], fields[2]), True))
            elif len(fields) == 4:
                pairs.append(Pair(fold, _photo(fields[0], fields[1]), _photo(fields[2], fields[3]), False))
            else:
                raise ValueError("wrong number of fields")
        except ValueError:
            raise ValueError(f"{path}: line {i + 2} is neither 'name i j' nor 'name1 i name2 j': "
                             f"{' '.join(fields)!r}") from None
    return pairs


def resolve_dataset(name_or_path: str, download: bool = True) -> Path:
    """A dataset folder from a path, or `lfw` from `$AUDIT_DATA`, the user data folder, or a download."""
    if name_or_path != "lfw":
        path = Path(name_or_path).expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"dataset {name_or_path!r} is neither a known name (lfw) nor an existing path")
        return path
    root = data_dir() / "lfw"
    if (root / "pairs.txt").exists() and any(root.iterdir()):
        return root
    if not download:
        raise FileNotFoundError(f"LFW not found under {root} (set AUDIT_DATA to the folder that holds lfw/)")
    download_lfw(root)
    return root


def download_lfw(root: Path, archive_url: str = LFW_ARCHIVE_URL, archive_md5: str = LFW_ARCHIVE_MD5,
                 pairs_url: str = LFW_PAIRS_URL, pairs_md5: str = LFW_PAIRS_MD5) -> Path:
    """Download and unpack LFW deep-funneled into root, checking both files' MD5 sums."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".lfw-download-") as tmp:
        tmp_dir = Path(tmp)
        archive = _download(archive_url, tmp_dir / "lfw-deepfunneled.tgz", archive_md5)
        pairs = _download(pairs_url, tmp_dir / "pairs.txt", pairs_md5)
        unpacked = tmp_dir / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        tops = [p for p in unpacked.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise ValueError(f"{archive_url}: expected one top-level folder in the archive, found {len(tops)}")
        shutil.move(str(pairs), tops[0] / "pairs.txt")
        if root.exists():
            shutil.rmtree(root)
        tops[0].rename(root)
    return root


def _download(url: str, dest: Path, md5: str) -> Path:
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}") as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except OSError as err:
        raise RuntimeError(f"could not download {url}: {err}") from err
    if digest.hexdigest() != md5:
        raise ValueError(f"checksum mismatch for {url}: got md5 {digest.hexdigest()}, expected {md5}")
    return dest
