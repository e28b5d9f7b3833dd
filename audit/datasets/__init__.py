"""Photo collections: identity folders, CSV manifests, and LFW (with its View 2 pairs)."""

from audit.datasets.folders import Photo, list_images, load_identity_folders, load_manifest, load_photos
from audit.datasets.lfw import Pair, parse_pairs, resolve_dataset

__all__ = ["Pair", "Photo", "list_images", "load_identity_folders", "load_manifest", "load_photos",
           "parse_pairs", "resolve_dataset"]
