"""Cloak a folder of photos with any cloaker, keeping relative names (`audit cloak`).

Each sub-folder is one person (a cloaker may choose a target from all of a person's photos);
`a/x.jpg` becomes `OUT/a/x.png` (the cloaker's format, the same stem), which is exactly what
the `precomputed` cloaker and `audit verify` match by name.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from audit.cloakers.base import Cloaker
from audit.cloakers.store import CloakStore
from audit.costs import cost_or_reason, kept_cost, perturbation_record
from audit.datasets.folders import list_images
from audit.perceptual import PerceptualCost
from audit.records import Perturbation, Skip


@dataclass
class FolderCloaked:
    written: dict[Path, Path] = field(default_factory=dict)  # original → cloaked copy under OUT
    costs: dict[Path, tuple[PerceptualCost | None, float]] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def cost(self) -> Perturbation:
        """The copies' perceptual cost on the whole photo, as saved, and the cloaker's seconds per photo."""
        return perturbation_record(self.costs.values())


def cloak_folder(cloaker: Cloaker, input_dir: Path, out_dir: Path) -> FolderCloaked:
    """Cloak every photo under `input_dir` into `out_dir`, one person per sub-folder; a targeted cloaker is given no
    public identities (it names what it needs in its error)."""
    listing = list_images(input_dir)
    photos = listing.paths
    if not photos:
        raise FileNotFoundError(f"no photos (.jpg, .jpeg, .png, .webp) under {input_dir}")
    if out_dir.resolve() == input_dir.resolve() or input_dir.resolve() in out_dir.resolve().parents:
        raise ValueError(f"--out {out_dir} must be outside {input_dir}, or its copies would be read as originals")
    people: dict[Path, list[Path]] = {}
    for photo in photos:
        people.setdefault(photo.parent, []).append(photo)
    cloaker.use_public_identities({})
    cloaker.check(photos, photos)
    result = FolderCloaked(skipped=[Skip(path=str(p), reason=reason, stage="listing")
                                    for p, reason in listing.broken.items()])
    store = CloakStore(cloaker)
    with tqdm(total=len(photos), desc=f"cloaking ({cloaker.name})", unit="photo") as bar:
        for folder, own in people.items():
            for original, outcome in store.cloak_user(own, str(folder.relative_to(input_dir)), bar).items():
                if outcome.path is None:
                    result.skipped.append(Skip(path=str(original), reason=outcome.reason, stage="cloak"))
                    continue
                relative = original.relative_to(input_dir)
                target = out_dir / relative.parent / f"{relative.stem}{outcome.path.suffix.lower()}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(outcome.path, target)
                result.written[original] = target
                cost = outcome.cost if outcome.path != original else cost_or_reason(original, target)
                result.costs[original] = (kept_cost(cost, target, result.skipped), outcome.seconds)
    return result
