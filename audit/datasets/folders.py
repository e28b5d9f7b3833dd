"""Identity-folder datasets (`root/<identity>/*.jpg`) and CSV manifests (`path,identity`)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from audit.images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Photo:
    path: Path
    identity: str


@dataclass(frozen=True)
class Dataset:
    """A data set's photos, and the files under it that cannot be photos (broken links), with why."""

    photos: list[Photo]
    unusable: dict[Path, str]


@dataclass(frozen=True)
class ImageListing:
    """The image files under a folder, and the links among them that point nowhere (with the reason
    each is skipped), so that every file is accounted for."""

    paths: list[Path]
    broken: dict[Path, str]


def broken_link(path: str | Path) -> str:
    """The skip reason of a link whose target is missing (or a loop of links)."""
    try:
        return f"broken link → {os.readlink(path)}"
    except OSError as err:
        return f"unreadable link ({err.strerror or err})"


def is_file(entry: os.DirEntry) -> bool:
    """`entry.is_file()`, False for a loop of links (which raises instead)."""
    try:
        return entry.is_file()
    except OSError:
        return False


def list_images(root: str | Path) -> ImageListing:
    """Every image file under root (by suffix, case-insensitive), sorted for determinism. Linked files
    count; linked folders are not entered (as `Path.rglob`); a link to nothing is listed as broken.
    Walked with `os.scandir`, whose entries know their type, so listing LFW's 13,233 photos costs no
    stat call each."""
    found: list[str] = []
    broken: dict[Path, str] = {}

    def walk(folder: str | Path) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path)
                elif os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
                    continue
                elif is_file(entry):
                    found.append(entry.path)
                elif entry.is_symlink() and not os.path.exists(entry.path):  # a link to nothing, or a loop
                    broken[Path(entry.path)] = broken_link(entry.path)

    if Path(root).is_dir():
        walk(root)
    return ImageListing(sorted(map(Path, found)), dict(sorted(broken.items())))


def load_identity_folders(root: str | Path) -> Dataset:
    """One identity per sub-folder of root; photos directly in root are an error."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    listing = list_images(root)
    photos, stray = [], []
    for path in listing.paths:
        relative = path.relative_to(root)
        if len(relative.parts) < 2:
            stray.append(relative.name)
        else:
            photos.append(Photo(path, relative.parts[0]))
    if stray:
        raise ValueError(f"{root}: photos must sit in one folder per identity; found {len(stray)} at the top "
                         f"level (e.g. {stray[0]})")
    if not photos:
        raise ValueError(f"{root}: no photos found ({', '.join(IMAGE_SUFFIXES)} in identity folders)"
                         + (f"; {len(listing.broken)} broken link(s), e.g. {next(iter(listing.broken))}"
                            if listing.broken else ""))
    return Dataset(photos, listing.broken)


def load_manifest(csv_path: str | Path) -> Dataset:
    """A CSV with `path,identity` columns; relative paths are relative to the CSV file. A listed link
    to nothing is unusable (a skip); a listed file that does not exist at all is an error."""
    csv_path = Path(csv_path)
    base = csv_path.parent
    photos = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"path", "identity"} <= set(reader.fieldnames):
            raise ValueError(f"{csv_path}: a manifest needs the columns path,identity (found {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            if not row["path"] or not row["identity"]:
                raise ValueError(f"{csv_path}:{line}: empty path or identity")
            path = Path(row["path"])
            photos.append(Photo(path if path.is_absolute() else base / path, row["identity"]))
    broken = {p.path: broken_link(p.path) for p in photos if p.path.is_symlink() and not p.path.exists()}
    missing = [p.path for p in photos if p.path not in broken and not p.path.is_file()]
    if missing:
        raise FileNotFoundError(f"{csv_path}: {len(missing)} listed photo(s) do not exist, e.g. {missing[0]}")
    return Dataset([p for p in photos if p.path not in broken], broken)


def load_photos(source: str | Path) -> Dataset:
    """A dataset folder or a `.csv` manifest."""
    source = Path(source)
    return load_manifest(source) if source.suffix.lower() == ".csv" else load_identity_folders(source)
