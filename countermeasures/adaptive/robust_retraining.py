"""`robust-retraining`: the adaptive tracker of Radiya-Dixit & Tramèr (ICLR 2022)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import torch
from tqdm import tqdm

from audit.cloakers import Cloaker
from audit.cloakers.store import CloakStore
from audit.devices import check_device, module_device
from audit.digests import rng_for
from audit.embedding.pipeline import FacePipeline
from audit.extractors import ExtractorSpec
from audit.extractors.user_models import TorchscriptSpec, save_torchscript_like
from audit.face.detection import FaceDetector
from audit.images import PhotoSkipped, read_image
from audit.paths import cache_dir
from audit.plugins import Nested
from audit.protocol import Protocol
from audit.records import Skip
from countermeasures.adaptive.base import AdaptiveCountermeasure
from trackers.base import Tracker

RECIPE = "clean-anchor, relative Adam, flips"  # part of the cache key: a new recipe retrains


class RobustRetraining(AdaptiveCountermeasure):
    """Fine-tunes the tracker's extractor on cloaked public photos, then tracks with the robust features.

    The tracker cloaks `photos` photos each of `public_users` identities outside the label set
    with the user's own cloaker (cloaks are public tools), and fine-tunes the extractor so that
    a clean photo and its cloaked copy both map to the clean photo's original embedding (its
    clean label in feature space). Anchoring to the original embeddings keeps every other
    identity where the tracker's linear probe or index expects it. `lr` is each weight tensor's
    step relative to its mean magnitude. Each tracker's own extractor (and face detector) is
    fine-tuned, unless `extractor=` names the one to fine-tune and use instead. The robust
    extractor is saved as TorchScript in the cache and reused by a later run with the same inputs. `device`
    (auto, cpu, cuda[:N]) is where the public photos are aligned and the extractor fine-tuned.
    """

    name = "robust-retraining"
    changes_extractor = True
    extractor = Nested("extractor")

    def __init__(self, public_users: int = 20, photos: int = 10, epochs: int = 10, lr: float = 1e-3,
                 batch_size: int = 32, extractor: str | ExtractorSpec | None = None, seed: int = 0,
                 device: str = "auto") -> None:
        """public_users: identities outside the label set whose photos it cloaks and trains on
        photos: photos of each of them
        epochs: fine-tuning epochs
        lr: each weight tensor's Adam step, relative to its mean magnitude
        batch_size: photo pairs (clean and cloaked) per step
        extractor: the model to fine-tune and track with (none: each tracker's own)
        seed: which identities and photos, and the batch order
        device: where the public photos are aligned and the model fine-tuned: auto, cpu, cuda[:N]"""
        if public_users < 1 or photos < 1 or epochs < 1 or batch_size < 1:
            raise ValueError(f"{self.name}: public_users, photos, epochs and batch_size must be at least 1")
        if lr <= 0:
            raise ValueError(f"{self.name}: lr={lr} must be positive")
        self.public_users = public_users
        self.photos = photos
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.extractor = extractor
        self.seed = seed
        self.device = check_device(self.name, device)
        # (model, face detector) by their cache keys → (the robust model, what its training did)
        self.robust_: dict[tuple[str, str], tuple[TorchscriptSpec, dict[str, object]]] = {}

    def base_model(self, tracker: Tracker) -> tuple[ExtractorSpec, FaceDetector]:
        """(extractor, face detector) fine-tuned for `tracker`."""
        return self.extractor or tracker.extractor, tracker.face_detector

    def base_key(self, tracker: Tracker) -> tuple[str, str]:
        """Which robust model serves `tracker`: its base model's and face detector's cache keys."""
        extractor, face_detector = self.base_model(tracker)
        return extractor.cache_id, face_detector.cache_id

    def robust_for(self, tracker: Tracker) -> tuple[TorchscriptSpec, dict[str, object]]:
        key = self.base_key(tracker)
        if key not in self.robust_:
            raise RuntimeError(f"{self.name}: prepare() has not run for {tracker.spec}")
        return self.robust_[key]

    def notes(self, tracker: Tracker) -> dict[str, object]:
        robust, training = self.robust_for(tracker)
        return {"extractor": robust.spec, "base_extractor": self.base_model(tracker)[0].spec, **training}

    def derived_from(self, tracker: Tracker) -> str:
        return self.base_model(tracker)[0].model_id

    def check_tracker(self, tracker: object) -> None:
        if getattr(tracker, "extractor", None) is None:
            raise ValueError(f"{self.name} fine-tunes a tracker's extractor; tracker {tracker.name!r} has none")

    def tracker_for(self, tracker: Tracker) -> Tracker:
        return tracker.clone(extractor=self.robust_for(tracker)[0])

    def public_photos(self, protocol: Protocol) -> dict[str, list[Path]]:
        """`public_users` identities outside the label set with at least `photos` photos, seeded."""
        candidates = sorted(name for name, paths in protocol.public.items() if len(paths) >= self.photos)
        if len(candidates) < self.public_users:
            raise ValueError(f"{self.name}: only {len(candidates)} identities outside the label set have "
                             f"{self.photos} photos; lower public_users or photos")
        rng = rng_for(self.seed, "robust-retraining")
        chosen = [candidates[i] for i in rng.permutation(len(candidates))[: self.public_users]]  # a smaller
        # public_users picks a prefix of a larger one's identities, so their cloaks are reused
        return {name: sorted(protocol.public[name][i] for i in rng_for(self.seed, "robust-photos", name)
                             .permutation(len(protocol.public[name]))[: self.photos]) for name in chosen}

    def prepare(self, protocol: Protocol, cloaker: Cloaker, skipped: list[Skip], trackers: list[Tracker]) -> None:
        public = self.public_photos(protocol)
        self.robust_ = {}
        for tracker in trackers:
            if self.base_key(tracker) not in self.robust_:
                self.robust_[self.base_key(tracker)] = self.robust_extractor(*self.base_model(tracker), public,
                                                                             cloaker, skipped)

    def robust_extractor(self, extractor: ExtractorSpec, face_detector: FaceDetector, public: dict[str, list[Path]],
                         cloaker: Cloaker, skipped: list[Skip]) -> tuple[TorchscriptSpec, dict[str, object]]:
        """The fine-tuned copy of `extractor` (a TorchScript file) and what its training did, from the cache if
        there."""
        base = extractor.load()
        key = hashlib.sha256(json.dumps([RECIPE, base.cache_id, base.weights_id, face_detector.spec, cloaker.cache_id,
                                         self.lr, self.batch_size, self.seed, self.epochs,
                                         {k: [p.name for p in v] for k, v in public.items()}]
                                        ).encode()).hexdigest()[:24]
        path = cache_dir() / "robust-extractors" / f"{extractor.name}-{key}.pt"
        info = path.with_suffix(".json")
        if path.exists() and info.exists():
            return TorchscriptSpec(str(path)), json.loads(info.read_text())
        if next(base.module.parameters(), None) is None:
            raise ValueError(f"{self.name}: extractor {extractor.spec} has no weights torch can train (an ONNX model "
                             "runs in onnxruntime); name a torch model with extractor=")
        pairs = self.cloaked_pairs(public, cloaker, skipped)
        pipeline = FacePipeline(base, face_detector=face_detector.clone(), device=self.device)
        usable = []
        for clean, cloaked in pairs:
            try:
                usable.append(torch.stack([pipeline.chip(read_image(clean))[0], pipeline.chip(read_image(cloaked))[0]]))
            except PhotoSkipped as skip:
                skipped.append(Skip(path=str(clean), reason=skip.reason, stage=self.name))
        if len(usable) < 2:
            raise ValueError(f"{self.name}: fewer than two public photos could be cloaked and aligned")
        model, losses = self.fine_tune(base.module, torch.stack(usable))
        save_torchscript_like(model, base, path)
        training = {"public_identities": len(public), "pairs": len(usable), "epochs": self.epochs,
                    "loss_first_epoch": losses[0], "loss_last_epoch": losses[-1]}
        info.write_text(json.dumps(training))
        return TorchscriptSpec(str(path)), training

    def cloaked_pairs(self, public: dict[str, list[Path]], cloaker: Cloaker, skipped: list[Skip]
                      ) -> list[tuple[Path, Path]]:
        """(clean, cloaked) for every public photo the cloaker could cloak."""
        store = CloakStore(cloaker)
        pairs = []
        with tqdm(total=sum(map(len, public.values())), desc=f"{self.name}: cloaking public photos",
                  unit="photo") as bar:
            for name, paths in public.items():
                for original, outcome in store.cloak_user(paths, name, bar).items():
                    if outcome.path is None:
                        skipped.append(Skip(path=str(original), reason=outcome.reason, stage=self.name))
                    else:
                        pairs.append((original, outcome.path))
        return pairs

    def fine_tune(self, module: torch.nn.Module, chips: torch.Tensor) -> tuple[torch.nn.Module, list[float]]:
        """Train a copy of `module` so clean and cloaked chips (N×2×3×S×S) both embed as the original clean chip does;
        the copy comes back on the CPU, where TorchScript saves it for any machine."""
        generator = torch.Generator().manual_seed(self.seed)  # on the CPU: the same draws on any device
        teacher = module.eval()
        chips = chips.to(module_device(module))
        flipped = chips.flip(-1)
        with torch.no_grad():
            targets = torch.stack([embed_all(teacher, chips[:, 0]), embed_all(teacher, flipped[:, 0])], dim=1)
        scale = targets.pow(2).sum(-1).mean()  # losses relative to the embeddings' squared norm
        model = copy.deepcopy(module).train().requires_grad_(True)  # a cloaker or an imported graph froze the weights
        # Adam moves every weight by about `lr`; dlib's convolution weights span 4e-4 to 1e-2, so a
        # single step size wrecks the small ones. Each tensor's step is relative to its magnitude.
        optimiser = torch.optim.Adam([{"params": [p], "lr": self.lr * float(p.detach().abs().mean().clamp_min(1e-8))}
                                      for p in model.parameters()])
        losses = []
        for _ in tqdm(range(self.epochs), desc=f"{self.name}: fine-tuning", unit="epoch"):
            order = torch.randperm(len(chips), generator=generator)
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                flip = (torch.rand(len(batch), generator=generator) < 0.5).to(chips.device)
                views = torch.where(flip[:, None, None, None, None], flipped[batch], chips[batch])  # B×2×3×S×S
                target = torch.where(flip[:, None], targets[batch, 1], targets[batch, 0])  # B×D
                out = model(views.flatten(0, 1)).view(len(batch), 2, -1)
                loss = (out - target[:, None]).pow(2).sum(-1).mean() / scale
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimiser.step()
                total += loss.item() * len(batch)
            losses.append(round(total / len(chips), 5))
        return model.eval().cpu(), losses


def embed_all(module: torch.nn.Module, chips: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    return torch.cat([module(chips[i : i + batch_size]) for i in range(0, len(chips), batch_size)])

