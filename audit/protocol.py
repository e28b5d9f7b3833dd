"""Who is protected, what the tracker trains on, what it is tested on: deterministic and seeded.

Every random choice draws from a generator seeded by (seed, purpose, identity), so adding an
identity to the dataset or a user to the run never reshuffles anybody else's split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from audit.datasets import Photo
from audit.digests import rng_for


@dataclass(frozen=True)
class ProtocolOptions:
    users: int = 5
    min_photos: int = 20
    max_photos: int | None = 40
    named_users: tuple[str, ...] = ()
    train_fraction: float = 0.7
    leak_ratio: float = 0.0
    labels: int | None = None
    seed: int = 0
    distractors: int | None = 0  # identities of --distractors added to search galleries (None: all of them)

    def __post_init__(self) -> None:
        if not 0 < self.train_fraction < 1:
            raise ValueError(f"train fraction must lie in (0, 1), not {self.train_fraction}")
        if not 0 <= self.leak_ratio < 1:
            raise ValueError(f"--leak-ratio must lie in [0, 1), not {self.leak_ratio}")
        if self.min_photos < 2:
            raise ValueError("--min-photos must be at least 2 (one photo to train on, one to test)")
        if self.max_photos is not None and self.max_photos < self.min_photos:
            raise ValueError(f"--max-photos {self.max_photos} is below --min-photos {self.min_photos}")
        if self.distractors is not None and self.distractors < 0:
            raise ValueError("--distractor-count cannot be negative")
        if self.labels is not None and self.labels < 2:
            raise ValueError("--labels must be at least 2 (a tracker needs someone to confuse the user with)")


@dataclass
class Protocol:
    """The outcome of the draws: splits per identity, protected users, and leaked photos."""

    train: dict[str, list[Path]]
    test: dict[str, list[Path]]
    protected: list[str]
    leaked: dict[str, list[Path]] = field(default_factory=dict)  # uncloaked despite protection
    public: dict[str, list[Path]] = field(default_factory=dict)  # identities outside the label set

    @property
    def labels(self) -> list[str]:
        return sorted(self.train)

    def to_cloak(self, user: str) -> list[Path]:
        keep = set(self.leaked.get(user, ()))
        return [p for p in self.train[user] if p not in keep]


def build_protocol(photos: list[Photo], options: ProtocolOptions) -> Protocol:
    by_identity: dict[str, list[Path]] = {}
    for photo in photos:
        by_identity.setdefault(photo.identity, []).append(photo.path)
    eligible = sorted(name for name, paths in by_identity.items() if len(paths) >= options.min_photos)
    missing = [u for u in options.named_users if u not in by_identity]
    if missing:
        raise ValueError(f"--user {missing[0]!r} is not an identity of this dataset")
    too_few = [u for u in options.named_users if u not in eligible]
    if too_few:
        raise ValueError(f"--user {too_few[0]!r} has {len(by_identity[too_few[0]])} photos, "
                         f"fewer than --min-photos {options.min_photos}")
    protected = list(dict.fromkeys(options.named_users))
    if not protected:
        if len(eligible) < options.users + 1:
            raise ValueError(f"only {len(eligible)} identities have at least {options.min_photos} photos; "
                             f"{options.users} protected users and at least one other identity are needed "
                             "(lower --min-photos or --users)")
        picks = rng_for(options.seed, "users").permutation(len(eligible))[: options.users]
        protected = sorted(eligible[i] for i in picks)
    labels = _label_set(eligible, protected, options)
    if len(labels) < 2:
        raise ValueError("the label set has a single identity: a tracker needs at least two "
                         f"(identities with at least {options.min_photos} photos: {len(eligible)})")
    train, test = {}, {}
    for name in labels:
        paths = sorted(by_identity[name])
        order = rng_for(options.seed, "split", name).permutation(len(paths))
        if options.max_photos is not None:
            order = order[: options.max_photos]
        n_train = min(len(order) - 1, max(1, round(options.train_fraction * len(order))))
        train[name] = sorted(paths[i] for i in order[:n_train])
        test[name] = sorted(paths[i] for i in order[n_train:])
    leaked = {}
    for user in protected:
        n_leak = round(options.leak_ratio * len(train[user]))
        order = rng_for(options.seed, "leak", user).permutation(len(train[user]))
        leaked[user] = sorted(train[user][i] for i in order[:n_leak])
    public = {name: sorted(paths) for name, paths in by_identity.items() if name not in train}
    return Protocol(train, test, protected, leaked, public)


def _label_set(eligible: list[str], protected: list[str], options: ProtocolOptions) -> list[str]:
    """Every eligible identity, or `labels` of them drawn (seeded), always with the protected users."""
    if options.labels is None:
        return sorted(set(eligible) | set(protected))
    if options.labels < len(protected):
        raise ValueError(f"--labels {options.labels} is fewer than the {len(protected)} protected users")
    others = [name for name in eligible if name not in protected]
    picks = rng_for(options.seed, "labels").permutation(len(others))[: options.labels - len(protected)]
    return sorted(protected + [others[i] for i in picks])
