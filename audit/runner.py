"""`audit run`: protocol → cloak → track → score, one result per tracker.

The tracker only ever sees photo files as posted: the cloaked copies from the store for the
protected users' training photos (leaked ones stay uncloaked), the originals for everyone
else, and the uncloaked test photos of everyone.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from audit.checkpoints import CellStore
from audit.cloakers import Cloaker, build_cloaker
from audit.cloakers.store import CloakStore
from audit.datasets import load_photos, resolve_dataset
from audit.images import PhotoSkipped, read_image
from audit.metrics import PerceptualCost, Rate, clustered_rate, perceptual_cost, wilson
from audit.plan import RunPlan, cell_key
from audit.pooling import pool_seeds
from audit.protocol import Protocol, ProtocolOptions, build_protocol
from countermeasures import AdaptiveCountermeasure, Countermeasure, Transform, build_countermeasures
from countermeasures.cloak_detectors import (CloakDetector, build_cloak_detector, detection_record, features_model,
                                             tracker_features)
from countermeasures.transforms.files import transform_files
from countermeasures.transforms.none import NoTransform
from cloud_clients import RESOURCE_PREFIX, CloudError, CloudSession
from trackers import CloudTracker, Tracker, build_tracker
from trackers.base import Ranking

SCHEMA_VERSION = 1


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, began: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - began

    def timed(self, stage: str, tracker: Tracker, work):
        """Run work; the tracker's face-pipeline time inside it counts as its own stages."""
        pipeline = getattr(tracker, "_pipeline", None)
        before = dict(pipeline.seconds) if pipeline is not None else {}
        began = time.perf_counter()
        result = work()
        total = time.perf_counter() - began
        pipeline = getattr(tracker, "_pipeline", None)  # built lazily inside work
        for part, seconds in (pipeline.seconds.items() if pipeline is not None else ()):
            spent = seconds - before.get(part, 0.0)
            self.seconds[part] = self.seconds.get(part, 0.0) + spent
            total -= spent
        self.seconds[stage] = self.seconds.get(stage, 0.0) + total
        return result


def run_audit(plan: RunPlan) -> dict:
    timings = Timings()
    # every plugin and option, nested ones included, is checked before any photo is read
    cloaker = build_cloaker(plan.cloaker)
    trackers = [build_tracker(spec) for spec in plan.trackers]
    countermeasures = run_countermeasures(plan.countermeasures)
    for countermeasure in countermeasures:
        for tracker in trackers:
            countermeasure.check_tracker(tracker)
    detectors = [build_cloak_detector(spec) for spec in plan.cloak_detectors]
    photos = load_photos(resolve_dataset(plan.dataset))
    scenarios = plan.scenarios()
    protocols = [build_protocol(photos, scenario) for scenario in scenarios]
    for protocol in protocols:  # a targeted cloaker without candidates fails here, before any work
        cloaker.use_public_identities(protocol.public)
    needed = sorted({p for protocol in protocols for user in protocol.protected for p in protocol.to_cloak(user)})
    cloaker_notes = cloaker.check(needed, [photo.path for photo in photos])
    cloud = [(spec, t) for spec, t in zip(plan.trackers, trackers) if isinstance(t, CloudTracker)]
    if cloud and not plan.allow_cloud_upload:
        raise CloudUploadRefused(cloud_plan(cloud, protocols, len(countermeasures), plan))
    session = CloudSession(plan.max_api_calls)
    cells = CellStore(plan.cells_folder)
    skipped: list[dict] = []
    costs: dict[Path, tuple[PerceptualCost | None, float]] = {}
    user_notes: dict[str, dict] = {}
    results, detection, examples = [], [], []

    def assemble(stopped: str | None = None) -> dict:
        """The report: of everything, or (`stopped`) of the results finished before the run stopped."""
        return {
            "schema_version": SCHEMA_VERSION,
            "cloaker": {"name": cloaker.name, "spec": cloaker.spec, "implementation": cloaker.implementation,
                        "params": cloaker.params(), "cloak_extractors": cloaker.cloak_extractors,
                        **({"per_user": user_notes} if user_notes else {}),
                        **({"notes": cloaker_notes} if cloaker_notes else {})},
            "perturbation": perturbation_record(costs),
            "examples": examples,
            "protocol": protocol_record(protocols, scenarios, plan),
            "results": results,
            **({"pooled": pool_seeds(results)} if len(plan.seeds) > 1 else {}),
            "cells": cells.summary(),
            "detection": detection,
            "skipped": unique_skips(skipped),
            "timings": {k: round(v, 2) for k, v in timings.seconds.items()},
            "environment": environment(plan),
            **({"cloud": session.record()} if cloud else {}),
            **({"stopped": stopped} if stopped else {}),
        }

    try:
        for scenario, protocol in zip(scenarios, protocols):
            began = time.perf_counter()
            cloaker.use_public_identities(protocol.public)
            cloaked = cloak_protected(cloaker, protocol, skipped, costs, user_notes)
            timings.add("cloak", began)
            examples = examples or example_pairs(protocol, cloaked)
            if detectors:
                began = time.perf_counter()
                detection += detect_cloaks(detectors, trackers, protocol, scenario, cloaked)
                timings.add("detect_cloaks", began)
            for countermeasure in countermeasures:
                keys = [cell_key(protocol, scenario, plan, cloaker.cache_id, countermeasure.cache_id, t.cache_id)
                        for t in trackers]
                finished = [cells.load(key) for key in keys]
                prepared, preparation_skips = None, []
                for tracker, key, cell in zip(trackers, keys, finished):
                    if cell is None:
                        if prepared is None:  # only when a cell needs it: robust retraining is a training run
                            began = time.perf_counter()
                            prepared = prepare_countermeasure(countermeasure, protocol, cloaker, cloaked,
                                                              preparation_skips, trackers)
                            timings.add("countermeasure", began)
                        cell_skips = list(preparation_skips)
                        result = evaluate_tracker(tracker, protocol, scenario, cloaked, plan, cell_skips, timings,
                                                  prepared, cloaker.cloak_extractors, session)
                        cell = cells.save(key, {"result": result, "skipped": cell_skips})
                    results.append(cell["result"])
                    skipped += cell["skipped"]
    except (Exception, KeyboardInterrupt) as err:
        session.cleanup()
        cause = CloudError(f"{err}. {cleanup_summary(session)}") if isinstance(err, CloudError) else err
        why = "interrupted" if isinstance(err, KeyboardInterrupt) else str(cause)
        raise RunStopped(cause, assemble(stopped=why) if results else None) from err
    finally:
        session.cleanup()  # on success, error or Ctrl-C: nothing this run created stays behind
    return assemble()


class RunStopped(Exception):
    """The run stopped early (an error, Ctrl-C, a spent API budget); `report` holds the results
    finished before it, or is None when none had finished."""

    def __init__(self, cause: BaseException, report: dict | None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.report = report


class CloudUploadRefused(RuntimeError):
    """A cloud tracker was asked for without --allow-cloud-upload; the message is the plan."""


def cloud_plan(cloud: list[tuple[str, CloudTracker]], protocols: list[Protocol], n_countermeasures: int,
               plan: RunPlan) -> str:
    """What would go where: per cloud tracker, galleries, photos, identities and API calls (estimated)."""
    lines = ["Nothing was sent. With --allow-cloud-upload, this run would upload photos to:"]
    for spec, tracker in cloud:
        galleries = calls = photos = queries = 0
        identities = set()
        for protocol in protocols:
            fits = n_countermeasures * (1 + (len(protocol.protected) if plan.isolation == "per-user" else 1))
            train = sum(len(protocol.train[name]) for name in protocol.labels)
            tests = sum(len(protocol.test[name]) for name in protocol.labels)
            galleries += fits
            calls += fits * tracker.estimate_calls(train, len(protocol.labels), tests)
            photos = max(photos, train)
            queries = max(queries, tests)
            identities |= set(protocol.labels)
        lines.append(f"  {spec}: {tracker.provider} at {tracker.where}; {galleries} galleries (each a control or "
                     f"a protected user's tracker), each with up to {photos} training photos of {len(identities)} "
                     f"identities, queried with {queries} photos; about {calls:,} API calls. "
                     f"Credentials: {tracker.credentials_status()}.")
    limit = f"--max-api-calls {plan.max_api_calls}" if plan.max_api_calls else "no --max-api-calls limit"
    lines.append(f"Every gallery is named {RESOURCE_PREFIX}<run id>-NNN and deleted when the run ends, fails or is "
                 f"interrupted ({limit}); `audit cloud cleanup --provider P` removes any left behind.")
    return "\n".join(lines)


def cleanup_summary(session: CloudSession) -> str:
    n = len(session.deleted)
    deleted = f"Cleanup deleted {n} cloud {'gallery' if n == 1 else 'galleries'}"
    if session.leftovers:
        return f"{deleted} but could not delete {', '.join(session.leftovers)}"
    return deleted


def detect_cloaks(detectors: list[CloakDetector], trackers: list[Tracker], protocol: Protocol,
                  scenario: ProtocolOptions, cloaked: dict[Path, Path]) -> list[dict]:
    """Fit each detector on the features of the training photos as a tracker collects them
    (every protected user cloaked, leaked photos not) and score protected vs clean classes: once
    per model the run's trackers use (or the one the detector names), each record naming it."""
    photos, labels = training_set(protocol, cloaked, protocol.protected)
    records = []
    for detector in detectors:
        for extractor, face_detector in dict.fromkeys(features_model(detector.extractor, t) for t in trackers):
            features, kept, _ = tracker_features(photos, labels, extractor, face_detector)
            records.append({"cloak_detector": detector.label, "extractor": extractor, "face_detector": face_detector,
                            "leak_ratio": scenario.leak_ratio, "n_labels": len(protocol.labels),
                            **detection_record(detector.fit(features, kept), protocol.protected)})
    return records


def unique_skips(skipped: list[dict]) -> list[dict]:
    """Each (photo, stage, reason) once, sorted: a swept run meets the same bad photo many times."""
    unique = {(s["path"], s["stage"], s["reason"]): s for s in skipped}
    return [unique[key] for key in sorted(unique)]


def cloak_protected(cloaker: Cloaker, protocol: Protocol, skipped: list[dict],
                    costs: dict[Path, tuple[PerceptualCost | None, float]],
                    user_notes: dict[str, dict]) -> dict[Path, Path]:
    """Cloak every protected user's training photos (except leaked ones) through the store.

    Returns the cloaked copies; fills `costs` (perceptual cost and seconds per original) and
    the cloaker's notes per user.
    """
    to_cloak = {user: protocol.to_cloak(user) for user in protocol.protected}
    store = CloakStore(cloaker)
    cloaked: dict[Path, Path] = {}
    with tqdm(total=sum(map(len, to_cloak.values())), desc=f"cloaking ({cloaker.name})", unit="photo") as bar:
        for user, paths in to_cloak.items():
            for original, outcome in store.cloak_user(paths, user, bar).items():
                if outcome.path is None:
                    skipped.append({"path": str(original), "reason": outcome.reason, "stage": "cloak"})
                    continue
                cloaked[original] = outcome.path
                if original not in costs:
                    changed = cloaker.writes_files or outcome.path != original
                    cost = measure_cost(original, outcome.path, skipped) if changed else None
                    costs[original] = (cost, outcome.seconds)
            if user not in user_notes and (note := cloaker.user_notes(paths)):
                user_notes[user] = note
    return cloaked


def example_pairs(protocol: Protocol, cloaked: dict[Path, Path], n: int = 3) -> list[dict]:
    """A cloaked photo of each of the first n protected users, for the HTML report's examples."""
    pairs = []
    for user in protocol.protected:
        photo = next((p for p in protocol.train[user] if cloaked.get(p, p) != p), None)
        if photo is not None and len(pairs) < n:
            pairs.append({"user": user, "original": str(photo), "cloaked": str(cloaked[photo])})
    return pairs


def measure_cost(original: Path, cloaked: Path, skipped: list[dict]):
    try:
        return perceptual_cost(read_image(original), read_image(cloaked))
    except PhotoSkipped as skip:
        skipped.append({"path": str(cloaked), "reason": f"cloaked copy unreadable: {skip.reason}", "stage": "cloak"})
    except ValueError as err:  # a cloaker that changed the photo's size
        skipped.append({"path": str(cloaked), "reason": str(err), "stage": "cloak"})
    return None


def perturbation_record(costs: dict[Path, tuple[PerceptualCost | None, float]]) -> dict:
    """Perceptual cost over every distinct photo cloaked in the run, and the cloaker's seconds per photo."""
    measured = [cost for cost, _ in costs.values() if cost is not None]
    seconds = [s for _, s in costs.values()]
    per_photo = float(np.mean(seconds)) if seconds else 0.0
    if not measured:
        return {"n_photos": 0, "dssim_mean": 0.0, "dssim_max": 0.0, "psnr_mean": None, "l2_mean": 0.0,
                "linf_max": 0.0, "seconds_per_photo": per_photo}
    finite_psnr = [c.psnr for c in measured if np.isfinite(c.psnr)]
    return {
        "n_photos": len(measured),
        "dssim_mean": float(np.mean([c.dssim for c in measured])),
        "dssim_max": float(np.max([c.dssim for c in measured])),
        "psnr_mean": float(np.mean(finite_psnr)) if finite_psnr else None,
        "l2_mean": float(np.mean([c.l2 for c in measured])),
        "linf_max": float(np.max([c.linf for c in measured])),
        "seconds_per_photo": per_photo,
    }


def run_countermeasures(specs: tuple[str, ...]) -> list[Countermeasure]:
    """`none` first (every countermeasure is compared with it), then each distinct setting once."""
    baseline = NoTransform()
    chosen: dict[str, Countermeasure] = {baseline.cache_id: baseline}
    for spec in specs:
        for countermeasure in build_countermeasures(spec):
            chosen.setdefault(countermeasure.cache_id, countermeasure)
    return list(chosen.values())


@dataclass
class PreparedCountermeasure:
    """Which file the tracker reads instead of each photo, per transform draw (none for adaptive trackers)."""

    countermeasure: Countermeasure
    train_views: list[dict[Path, Path]] = field(default_factory=list)  # one per draw; augmentation keeps the originals
    test_view: dict[Path, Path] | None = None  # None: test photos are queried as they are

    @property
    def adaptive(self) -> AdaptiveCountermeasure | None:
        return self.countermeasure if isinstance(self.countermeasure, AdaptiveCountermeasure) else None


def prepare_countermeasure(countermeasure: Countermeasure, protocol: Protocol, cloaker: Cloaker,
                           cloaked: dict[Path, Path], skipped: list[dict], trackers: list[Tracker]
                           ) -> PreparedCountermeasure:
    """An adaptive tracker's own preparation, or a transform of every training photo as posted
    (originals and cloaked copies) and, if asked, of the test photos."""
    if isinstance(countermeasure, AdaptiveCountermeasure):
        countermeasure.prepare(protocol, cloaker, skipped, trackers)
        return PreparedCountermeasure(countermeasure)
    transform = countermeasure
    if not isinstance(transform, Transform) or not transform.changes_pixels:
        return PreparedCountermeasure(countermeasure)
    stage = f"countermeasure {transform.spec}"

    def view(t: Transform, photos: list[Path]) -> dict[Path, Path]:
        mapping = {}
        for photo, result in transform_files(t, photos, f"{stage} ({len(photos)} photos)").items():
            if isinstance(result, str):
                skipped.append({"path": str(photo), "reason": result, "stage": stage})
            else:
                mapping[photo] = result
        return mapping

    posted = sorted({p for paths in protocol.train.values() for p in paths} | set(cloaked.values()))
    train_views = [view(t, posted) for t in transform.draws()] if "train" in transform.stages else []
    tests = [p for paths in protocol.test.values() for p in paths]
    return PreparedCountermeasure(transform, train_views, view(transform, tests) if "test" in transform.stages else None)


def training_set(protocol: Protocol, cloaked: dict[Path, Path], cloaked_users: list[str],
                 countermeasure: PreparedCountermeasure | None = None) -> tuple[list[Path], list[str]]:
    """Photos as posted (the cloaked users' cloaked copies; leaked ones and failed cloaks stay
    original), as the countermeasure leaves them: replaced by transformed files, or joined by
    augmented copies."""
    posted = []
    cloaked_set = set(cloaked_users)
    for name in protocol.labels:
        for path in protocol.train[name]:
            posted.append((cloaked.get(path, path) if name in cloaked_set else path, name))
    if countermeasure is None or not countermeasure.train_views:
        return [p for p, _ in posted], [name for _, name in posted]
    transform = countermeasure.countermeasure
    kept = list(posted) if isinstance(transform, Transform) and transform.adds_copies else []
    for view in countermeasure.train_views:
        kept += [(view[p], name) for p, name in posted if p in view]
    return [p for p, _ in kept], [name for _, name in kept]


def query(model: Tracker, queries: list[Path], depth: int, countermeasure: PreparedCountermeasure) -> Ranking:
    """Predict on the test photos, or on their transformed files, reported under the original paths."""
    if countermeasure.test_view is None:
        return model.predict(queries, depth)
    original = {countermeasure.test_view[q]: q for q in queries if q in countermeasure.test_view}
    ranking = model.predict(list(original), depth)
    return Ranking({original[p]: r for p, r in ranking.ranked.items()},
                   {original[p]: reason for p, reason in ranking.skipped.items()})


def evaluate_tracker(tracker: Tracker, protocol: Protocol, scenario: ProtocolOptions,
                     cloaked: dict[Path, Path], plan: RunPlan, skipped: list[dict], timings: Timings,
                     countermeasure: PreparedCountermeasure, cloaker_models: list[str],
                     session: CloudSession | None = None) -> dict:
    """One tracker's result: protection and control, per user, and whether it is a transfer test
    (the tracker's model is none of `cloaker_models`, the models the cloak was optimised against)."""
    depth = plan.rank if tracker.ranks else 1
    users = protocol.protected
    others = [name for name in protocol.labels if name not in users]
    other_tests = [(p, name) for name in others for p in protocol.test[name]]
    queries = [p for name in protocol.labels for p in protocol.test[name]]

    adaptive = countermeasure.adaptive
    copies = set(cloaked.values())
    dropped: dict[str, dict[str, int]] = {}  # per fit: photos an adaptive tracker left out, and how many were cloaked

    def fit_and_rank(cloaked_users: list[str], what: str):
        model = build_tracker(adaptive.tracker_spec(tracker) if adaptive else tracker.spec)
        if isinstance(model, CloudTracker):
            model.use_session(session or CloudSession())
        photos, labels = training_set(protocol, cloaked, cloaked_users, countermeasure)
        if adaptive:
            selection = adaptive.select(photos, labels, tracker)
            photos, labels = selection.photos, selection.labels
            dropped[what] = {"photos": len(selection.dropped), "cloaked": len(copies & set(selection.dropped))}
        try:
            timings.timed("fit", model, lambda: model.fit(photos, labels))
            ranking = timings.timed("predict", model, lambda: query(model, queries, depth, countermeasure))
        finally:
            model.close()
        for path, reason in {**model.skipped_, **ranking.skipped}.items():
            label = countermeasure.countermeasure.label
            against = "" if label == "none" else f", countermeasure {label}"
            skipped.append({"path": str(path), "reason": reason, "stage": f"{tracker.name} ({what}{against})"})
        return ranking

    control = fit_and_rank([], "control")
    cloaked_rankings = ({user: fit_and_rank([user], user) for user in users}
                        if plan.isolation == "per-user" else dict.fromkeys(users, fit_and_rank(users, "cohort")))

    per_user, ranked_hits = [], {"protection": [], "control": []}
    for user in users:
        tests = [p for p in protocol.test[user] if p in control.ranked and p in cloaked_rankings[user].ranked]
        hidden = sum(user not in cloaked_rankings[user].top(p) for p in tests)
        control_hidden = sum(user not in control.top(p) for p in tests)
        ranked_hits["protection"].append(sum(user not in cloaked_rankings[user].top(p, depth) for p in tests))
        ranked_hits["control"].append(sum(user not in control.top(p, depth) for p in tests))
        per_user.append({"user": user, "n_test": len(tests), "hidden": hidden, "control_hidden": control_hidden,
                         "protection": hidden / len(tests) if tests else None,
                         "control": control_hidden / len(tests) if tests else None,
                         # per photo, so that `audit compare` can pair two runs photo by photo (McNemar)
                         "test_photos": [photo_name(p) for p in tests],
                         "hidden_photos": [photo_name(p) for p in tests if user not in cloaked_rankings[user].top(p)]})
    hidden = [u["hidden"] for u in per_user]
    control_hidden = [u["control_hidden"] for u in per_user]
    totals = [u["n_test"] for u in per_user]
    scored = build_tracker(adaptive.tracker_spec(tracker)) if adaptive else tracker
    result = {
        "tracker": tracker.label,
        "tracker_params": scored.params(),
        "tracker_extractor": scored.model,
        "cloak_extractors": cloaker_models,
        "transfer": scored.model not in cloaker_models,
        "countermeasure": countermeasure.countermeasure.label,
        "seed": scenario.seed,
        "leak_ratio": scenario.leak_ratio,
        "n_labels": len(protocol.labels),
        "isolation": plan.isolation,
        "protection": rate_record(hidden, totals),
        "control": rate_record(control_hidden, totals),
        "normal_accuracy": normal_accuracy(other_tests, cloaked_rankings, users),
        "per_user": per_user,
    }
    if adaptive and adaptive.notes(tracker):
        result["countermeasure_notes"] = adaptive.notes(tracker)
    if adaptive and adaptive.drops_photos:
        result["dropped"] = dropped
    if depth > 1:
        result["rank_k"] = {"k": depth, "protection": rate_record(ranked_hits["protection"], totals),
                            "control": rate_record(ranked_hits["control"], totals)}
    return result


def photo_name(path: Path) -> str:
    """`identity/file`: the same photo has the same name in any run over the same dataset."""
    return f"{path.parent.name}/{path.name}"


def rate_record(successes: list[int], totals: list[int]) -> dict:
    """Pooled rate over the users' test photos; `ci95` counts both users and photos (`clustered_rate`)."""
    pooled = clustered_rate(successes, totals)
    return {"rate": pooled.rate, "ci95": list(pooled.ci95), "n_photos": sum(totals), "n_users": len(totals)}


def normal_accuracy(other_tests: list[tuple[Path, str]], rankings: dict, users: list[str]) -> dict:
    """Top-1 accuracy on the unprotected identities' test photos, averaged over the users' trackers.

    Each tracker sees the same photos, so the interval is Wilson's over those photos (not
    over photos × trackers, which would overstate the evidence).
    """
    distinct = {id(r): r for r in rankings.values()}.values()
    rates = []
    n = 0
    for ranking in distinct:
        usable = [(p, name) for p, name in other_tests if p in ranking.ranked]
        n = max(n, len(usable))
        if usable:
            rates.append(sum(ranking.top(p) == [name] for p, name in usable) / len(usable))
    if not rates:
        return Rate(float("nan"), (float("nan"), float("nan")), 0).as_dict()
    mean = float(np.mean(rates))
    interval = wilson(round(mean * n), n)
    return {"rate": mean, "ci95": list(interval.ci95), "n_photos": n}


def protocol_record(protocols: list[Protocol], scenarios: list[ProtocolOptions], plan: RunPlan) -> dict:
    """The first scenario's protocol; a sweep adds one line per scenario."""
    protocol, p = protocols[0], scenarios[0]
    record = {
        "dataset": plan.dataset, "seed": p.seed, "users": protocol.protected, "min_photos": p.min_photos,
        "max_photos": p.max_photos, "train_fraction": p.train_fraction, "leak_ratio": p.leak_ratio,
        "isolation": plan.isolation, "n_labels": len(protocol.labels), "labels": protocol.labels,
        "n_train_photos": sum(map(len, protocol.train.values())),
        "n_test_photos": sum(map(len, protocol.test.values())),
        "n_leaked_photos": sum(map(len, protocol.leaked.values())),
    }
    if len(scenarios) > 1:
        record["sweep"] = [{"seed": s.seed, "leak_ratio": s.leak_ratio, "n_labels": len(q.labels),
                            "n_leaked_photos": sum(map(len, q.leaked.values()))} for s, q in zip(scenarios, protocols)]
    return record


def environment(plan: RunPlan) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("cloak-audit", "torch", "numpy", "faiss-cpu", "scikit-learn", "facenet-pytorch", "pillow"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"python": sys.version.split()[0], "packages": packages, "seed": plan.protocol.seed,
            "command_line": plan.command_line}
