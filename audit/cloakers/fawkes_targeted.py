"""Fawkes v0.3, the paper's targeted cloak (`fawkes-v0.3`).

Eq. 2 pulls each face's embedding towards a photo of a target identity T; eq. 3 picks T among
public identities outside the tracker's label set: the candidate whose centroid is farthest
from the user's nearest photo, T = argmax_k min_x ‖Φ(x) − C_k‖. A far target makes the cloak
move the face a long way in feature space, and a tracker trained on the cloaked photos learns
that region as the user. Against an ensemble, each model's distances are scaled by its
embeddings' typical norm (as eq. 2 is normalised) and summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audit.cloakers.fawkes import FawkesCloak
from audit.digests import rng_for


@dataclass(frozen=True)
class TargetChoice:
    identity: str
    embeddings: list[np.ndarray]  # per model: the target's photos, the farthest from the user's photos first


def ensemble_distances(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """len(a)×len(b) distances summed over models, each model's divided by the mean norm of b's rows
    in it (a constant per model: with one model, the paper's plain distances rank the same)."""
    return sum(np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2) / np.linalg.norm(y, axis=1).mean()
               for x, y in zip(a, b))


def select_target(user: list[np.ndarray], centroids: list[np.ndarray]) -> int:
    """Eq. 3: the index of the centroid farthest from the user's nearest photo (per model lists)."""
    return int(ensemble_distances(user, centroids).min(axis=0).argmax())


def rank_target_photos(user: list[np.ndarray], target: list[np.ndarray]) -> list[np.ndarray]:
    """The target's photos ordered by distance to the user's nearest photo, farthest first (as Fawkes pairs them)."""
    order = np.argsort(-ensemble_distances(user, target).min(axis=0), kind="stable")
    return [t[order] for t in target]


class FawkesTargetedCloak(FawkesCloak):
    """Fawkes v0.3: pull the face towards a public identity chosen by the paper's eq. 3.

    `candidates` public identities with at least `min_target_photos` photos are drawn (seeded
    by `seed`) from those the run supplies, each described by up to `target_photos` photos.
    Budgets (`mode`, `th`, steps, learning rate) are v1.0's; only the objective differs.
    """

    name = "fawkes-v0.3"
    depends_on_user_photos = True  # the target is chosen from all of the user's photos
    uses_public_identities = True  # the target is one of the public identities

    def __init__(self, candidates: int = 50, min_target_photos: int = 5, target_photos: int = 10, seed: int = 0,
                 **fawkes_options: object) -> None:
        """candidates: public identities drawn as candidate targets (seeded)
        min_target_photos: photos a public identity needs to be a candidate
        target_photos: the target photos each face is pulled towards, at most
        seed: the draw of the candidates"""
        super().__init__(**fawkes_options)  # type: ignore[arg-type]
        if candidates < 1 or min_target_photos < 1 or target_photos < 1:
            raise ValueError("fawkes-v0.3: candidates, min_target_photos and target_photos must be at least 1")
        self.candidates = candidates
        self.min_target_photos = min_target_photos
        self.target_photos = target_photos
        self.seed = seed
        self._pool: dict[str, list[Path]] = {}
        self._centroids: tuple[list[str], list[np.ndarray], dict[str, list[np.ndarray]]] | None = None
        self._choice: TargetChoice | None = None

    @property
    def cache_id(self) -> str:
        pool = ",".join(f"{name}:{p.name}" for name, paths in sorted(self._pool.items()) for p in paths)
        return f"{super().cache_id}|pool={pool}"

    def use_public_identities(self, public: dict[str, list[Path]]) -> None:
        eligible = sorted(name for name, paths in public.items() if len(paths) >= self.min_target_photos)
        if not eligible:
            raise self._no_candidates()
        picks = rng_for(self.seed, "fawkes-targets").permutation(len(eligible))[: self.candidates]
        pool = {eligible[i]: sorted(public[eligible[i]])[: self.target_photos] for i in sorted(picks)}
        if pool != self._pool:  # a sweep often hands the same pool again: keep its centroids
            self._pool, self._centroids = pool, None

    def user_notes(self, photos: list[Path]) -> dict[str, object]:
        choice = self.choose_target(photos)
        return {} if choice is None else {"target": choice.identity}

    def choose_target(self, photos: list[Path]) -> TargetChoice | None:
        """The user's target by eq. 3, or None when none of the photos has a usable face."""
        names, centroids, members = self._candidate_centroids()
        user = self._embed(photos)
        if len(user[0]) == 0:
            return None
        identity = names[select_target(user, centroids)]
        return TargetChoice(identity, rank_target_photos(user, members[identity]))

    def cloak(self, photos: list[Path], out_dir: Path) -> dict[Path, Path | str]:
        self._choice = self.choose_target(photos)
        try:
            return super().cloak(photos, out_dir)
        finally:
            self._choice = None

    def face_targets(self, n_faces: int) -> list[np.ndarray] | None:
        if self._choice is None:  # no face in any photo: every one is skipped before optimising
            return None
        return [ranked[np.arange(n_faces) % len(ranked)] for ranked in self._choice.embeddings]

    def objective(self, embeddings: torch.Tensor, source: torch.Tensor,
                  targets: torch.Tensor | None) -> torch.Tensor:
        """Eq. 2: closeness to the paired target photo's embedding (negated distance, normalised)."""
        if targets is None:
            raise RuntimeError("fawkes v0.3: optimising a face without a target")
        return -(embeddings - targets).norm(dim=1) / targets.norm(dim=1)

    def _candidate_centroids(self) -> tuple[list[str], list[np.ndarray], dict[str, list[np.ndarray]]]:
        if self._centroids is None:
            if not self._pool:
                raise self._no_candidates()
            members = {}
            for name, paths in self._pool.items():
                found = self._embed(paths)
                if len(found[0]):
                    members[name] = found
            if not members:
                raise ValueError("fawkes v0.3: no face found in any candidate target's photos")
            names = sorted(members)
            centroids = [np.stack([members[n][k].mean(axis=0) for n in names]) for k in range(len(self.pipelines))]
            self._centroids = names, centroids, members
        return self._centroids

    def _no_candidates(self) -> ValueError:
        return ValueError(f"fawkes v0.3 needs public identities outside the tracker's label set with at least "
                          f"{self.min_target_photos} photos to pick a target from; there are none (use --labels K "
                          "below the number of eligible identities, or lower min_target_photos)")

    def _embed(self, paths: list[Path]) -> list[np.ndarray]:
        """Per model, the embeddings of the photos every model could embed (same order in each)."""
        results = [pipeline.embed_cached(paths, progress=False) for pipeline in self.pipelines]
        common = set.intersection(*(set(r.paths) for r in results))
        return [r.embeddings[[i for i, p in enumerate(r.paths) if p in common]] for r in results]
