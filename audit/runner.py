"""`audit run`: protocol → cloak → track → score, cell by cell, each cell kept on disk as it finishes.

The tracker only ever sees photo files as posted: the cloaked copies from the store for the
protected users' training photos (leaked ones stay uncloaked), the originals for everyone
else, and the uncloaked test photos of everyone.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

from tqdm import tqdm

from audit.cells import CellJob, ScenarioCells, Timings, training_set, unique_skips, with_baseline
from audit.checkpoints import CellStore, cell_key, protocol_digest
from audit.cloakers import Cloaker
from audit.cloakers.budget import Budget
from audit.cloakers.store import CloakStore
from audit.costs import kept_cost, perturbation_record
from audit.curves import cost_curves
from audit.datasets import load_photos, resolve_dataset
from audit.datasets.distractors import NO_DISTRACTORS, choose_distractors, load_distractors
from audit.datasets.embedded import EmbeddedGallery
from audit.devices import check_devices_here
from audit.environment import environment
from audit.executors import Executor, LocalExecutor
from audit.options import format_sweep
from audit.perceptual import PerceptualCost
from audit.plan import RunPlan
from audit.plugins import option_text
from audit.pooling import pool_seeds
from audit.protocol import Protocol, ProtocolOptions, build_protocol
from audit.records import (BudgetCost, CellResult, CloakerRecord, CloudUse, Detection, ExamplePair, ProtocolRecord,
                           RunReport, Scenario, Skip)
from cloud_clients import RESOURCE_PREFIX, CloudError, CloudSession
from countermeasures import AdaptiveCountermeasure, Countermeasure
from countermeasures.cloak_detectors import (CloakDetector, detection_record, features_key, features_model,
                                             tracker_features)
from trackers import CloudTracker, Tracker


def check_precomputed_distractors(gallery: EmbeddedGallery, trackers: list[Tracker],
                                  countermeasures: list[Countermeasure]) -> None:
    """Embeddings computed beforehand join only the gallery of a tracker on their own extractor, and only under
    countermeasures that keep that extractor."""
    for tracker in trackers:
        if tracker.model != gallery.extractor:
            raise ValueError(f"--distractors {gallery.source} holds {gallery.extractor} embeddings; tracker "
                             f"{tracker.spec} embeds with {tracker.model}: embed the distractors with it "
                             f"(audit embed DIR --extractor {tracker.model} --out FILE.npz) or use their photos")
    retraining = [c.spec for c in countermeasures if isinstance(c, AdaptiveCountermeasure) and c.changes_extractor]
    if retraining:
        raise ValueError(f"--distractors {gallery.source}: {', '.join(retraining)} changes the tracker's extractor, "
                         "which embeddings computed beforehand cannot follow: use the distractors' photos instead")


def run_audit(plan: RunPlan) -> RunReport:
    timings = Timings()
    # every plugin and option, nested ones included, was parsed and checked when the plan was made, before any
    # photo is read; a cloaker whose budget lists several limits is one cloaker per budget (a protection–cost curve)
    cloakers = list(plan.cloakers)
    sweeping_budgets = plan.budgets is not None
    trackers = list(plan.trackers)
    countermeasures = with_baseline(plan.countermeasures)
    for countermeasure in countermeasures:
        for tracker in trackers:
            countermeasure.check_tracker(tracker)
    detectors = list(plan.cloak_detectors)
    executor = plan.executor
    if plan.distractors and (others := [t.spec for t in trackers if not t.searches_gallery]):
        raise ValueError(f"--distractors join a search tracker's gallery (faiss); {', '.join(others)} would "
                         "train on them or upload them: run those trackers without --distractors")
    if isinstance(executor, LocalExecutor):
        check_devices_here([*cloakers, *trackers, *countermeasures])
    cloud = [t for t in trackers if isinstance(t, CloudTracker)]
    if cloud and not isinstance(executor, LocalExecutor):
        raise ValueError(f"--executor {executor.spec}: cloud trackers ({', '.join(t.spec for t in cloud)}) run "
                         "with --executor local, where their API budget and cleanup live")
    dataset = load_photos(resolve_dataset(plan.dataset))
    photos = dataset.photos
    scenarios = plan.scenarios()
    protocols = [build_protocol(photos, scenario) for scenario in scenarios]
    for protocol in protocols:  # a targeted cloaker without candidates fails here, before any work
        for each in cloakers:
            each.use_public_identities(protocol.public)
    pool = load_distractors(plan.distractors) if plan.distractors else NO_DISTRACTORS
    if pool.embedded is not None:
        check_precomputed_distractors(pool.embedded, trackers, countermeasures)
    galleries = [choose_distractors(pool, s.distractors, set(q.labels), str(plan.distractors))
                 if plan.distractors else NO_DISTRACTORS for s, q in zip(scenarios, protocols)]
    needed = sorted({p for protocol in protocols for user in protocol.protected for p in protocol.to_cloak(user)})
    cloaker_notes = [each.check(needed, [photo.path for photo in photos]) for each in cloakers][0]
    if cloud and not plan.allow_cloud_upload:
        raise CloudUploadRefused(cloud_plan(cloud, protocols, len(countermeasures), plan))
    session = CloudSession(plan.max_api_calls)
    cells = CellStore(plan.cells_folder)
    skipped = [Skip(path=str(path), reason=reason, stage="dataset") for path, reason in dataset.unusable.items()]
    skipped += [Skip(path=str(path), reason=reason, stage="distractors") for path, reason in pool.unusable.items()]
    costs: dict[str, dict[Path, tuple[PerceptualCost | None, float]]] = {each.spec: {} for each in cloakers}
    user_notes: dict[str, dict] = {}
    results: dict[str, CellResult] = {}  # by cell key, as cells finish (a cluster finishes them in any order)
    planned: list[str] = []  # every cell key in the plan's order, which the report keeps
    detection: list[Detection] = []
    examples: list[ExamplePair] = []
    budget_examples: dict[str, ExamplePair] = {}  # per cloaker of a budget sweep: the first example's photo

    def assemble(stopped: str | None = None) -> RunReport:
        """The report: of everything, or (`stopped`) of the results finished before the run stopped."""
        ordered = [results[key] for key in planned if key in results]
        budgets = tuple(BudgetCost(budget=str(each.budget), cloaker=each.spec,
                                   perturbation=perturbation_record(costs[each.spec].values()),
                                   example=budget_examples.get(each.spec))
                        for each in cloakers) if sweeping_budgets else None
        return RunReport(
            cloaker=cloaker_record(cloakers, user_notes or None, cloaker_notes or None),
            perturbation=perturbation_record([cost for each in costs.values() for cost in each.values()]),
            examples=tuple(examples),
            protocol=protocol_record(protocols, scenarios, galleries, plan),
            results=tuple(ordered),
            pooled=pool_seeds(ordered) if len(plan.seeds) > 1 else None,
            cells=cells.summary(),
            detection=tuple(detection),
            skipped=unique_skips(skipped),
            timings={k: round(v, 2) for k, v in timings.seconds.items()},
            environment=environment(plan.protocol.seed, plan.command_line),
            cloud=CloudUse(**session.record()) if cloud else None,
            stopped=stopped,
            budgets=budgets,
            curves=cost_curves(tuple(ordered), budgets) if budgets else None,
        )

    try:
        for cloaker in cloakers:
            budget = str(cloaker.budget) if sweeping_budgets else None
            for scenario, protocol, distractors in zip(scenarios, protocols, galleries):
                began = time.perf_counter()
                cloaker.use_public_identities(protocol.public)
                cloaked = cloak_protected(cloaker, protocol, skipped, costs[cloaker.spec], user_notes, executor)
                timings.add("cloak", began)
                examples = examples or example_pairs(protocol, cloaked)
                if sweeping_budgets and examples and cloaker.spec not in budget_examples:
                    shown = examples[0]
                    copy = cloaked.get(Path(shown.original))
                    if copy is not None:
                        budget_examples[cloaker.spec] = replace(shown, cloaked=str(copy))
                if detectors:
                    began = time.perf_counter()
                    detection += [replace(record, budget=budget)
                                  for record in detect_cloaks(detectors, trackers, protocol, scenario, cloaked)]
                    timings.add("detect_cloaks", began)
                photos_digest = protocol_digest(protocol, distractors)
                jobs = [CellJob(run_cell_key(photos_digest, scenario, plan, cloaker.cache_id, countermeasure.cache_id,
                                             tracker.cache_id), countermeasure, tracker)
                        for countermeasure in countermeasures for tracker in trackers]
                planned += [job.key for job in jobs]
                work = ScenarioCells(scenario, protocol, cloaked, plan.rank, plan.isolation, trackers, cloaker.clone(),
                                     distractors)
                for cell in executor.cells(cells, work, jobs, timings, cloaker, session):
                    results[cell.key] = replace(cell.result, budget=budget)
                    skipped += cell.skipped
    except (Exception, KeyboardInterrupt) as err:
        session.cleanup()
        cause = CloudError(f"{err}. {cleanup_summary(session)}") if isinstance(err, CloudError) else err
        why = "interrupted" if isinstance(err, KeyboardInterrupt) else str(cause)
        raise RunStopped(cause, assemble(stopped=why) if results else None) from err
    finally:
        session.cleanup()  # on success, error or Ctrl-C: nothing this run created stays behind
        executor.close()
    return assemble()


class RunStopped(Exception):
    """The run stopped early (an error, Ctrl-C, a spent API budget); `report` holds the results
    finished before it, or is None when none had finished."""

    def __init__(self, cause: BaseException, report: RunReport | None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.report = report


class CloudUploadRefused(RuntimeError):
    """A cloud tracker was asked for without --allow-cloud-upload; the message is the plan."""


def run_cell_key(photos: str, scenario: ProtocolOptions, plan: RunPlan, cloaker_id: str, countermeasure_id: str,
                 tracker_id: str) -> str:
    """The key of one cell of a run; `photos` is the scenario's `protocol_digest`, computed once for all its cells."""
    material = {"photos": photos, "scenario": asdict(scenario), "dataset": plan.dataset, "isolation": plan.isolation,
                "rank": plan.rank, "cloaker": cloaker_id}
    where = f"seed{scenario.seed}-leak{scenario.leak_ratio}-labels{scenario.labels or 'all'}"
    return cell_key(where, material, countermeasure_id, tracker_id)


def cloud_plan(cloud: list[CloudTracker], protocols: list[Protocol], n_countermeasures: int, plan: RunPlan) -> str:
    """What would go where: per cloud tracker, galleries, photos, identities and API calls (estimated)."""
    lines = ["Nothing was sent. With --allow-cloud-upload, this run would upload photos to:"]
    for tracker in cloud:
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
        lines.append(f"  {tracker.spec}: {tracker.provider} at {tracker.where}; {galleries} galleries (each a control or "
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
                  scenario: ProtocolOptions, cloaked: dict[Path, Path]) -> list[Detection]:
    """Fit each detector on the features of the training photos as a tracker collects them
    (every protected user cloaked, leaked photos not) and score protected vs clean classes: once
    per model the run's trackers use (or the one the detector names), each record naming it."""
    photos, labels = training_set(protocol, cloaked, protocol.protected)
    records = []
    for detector in detectors:
        models = {features_key(*model): model for model in (features_model(detector.extractor, t) for t in trackers)}
        for extractor, face_detector in models.values():
            features, kept, _ = tracker_features(photos, labels, extractor, face_detector)
            records.append(Detection(cloak_detector=detector.label, extractor=extractor.spec,
                                     face_detector=face_detector.spec, leak_ratio=scenario.leak_ratio,
                                     n_labels=len(protocol.labels),
                                     **detection_record(detector.clone().fit(features, kept), protocol.protected)))
    return records


def cloaker_record(cloakers: list[Cloaker], per_user: dict | None, notes: dict | None) -> CloakerRecord:
    """The run's cloaker as the report names it: a budget sweep is one cloaker with every budget it ran at."""
    first = cloakers[0]
    params = first.plain_params()
    spec = first.spec
    if len(cloakers) > 1:
        params["budget"] = ", ".join(str(each.budget) for each in cloakers)
        swept = {key: [option_text(value)] for key, value in first.shown_params().items()}
        spec = format_sweep(first.name, {**swept, "budget": Budget.sweep_texts([each.budget for each in cloakers])})
    return CloakerRecord(name=first.name, spec=spec,
                         implementation=first.implementation, params=params,
                         cloak_extractors=tuple(first.cloak_extractors), per_user=per_user, notes=notes)


def cloak_protected(cloaker: Cloaker, protocol: Protocol, skipped: list[Skip],
                    costs: dict[Path, tuple[PerceptualCost | None, float]],
                    user_notes: dict[str, dict], executor: Executor) -> dict[Path, Path]:
    """Cloak every protected user's training photos (except leaked ones) through the store, on `executor`.

    Returns the cloaked copies; fills `costs` (perceptual cost and seconds per original) and
    the cloaker's notes per user.
    """
    to_cloak = {user: protocol.to_cloak(user) for user in protocol.protected}
    store = CloakStore(cloaker)
    cloaked: dict[Path, Path] = {}
    public = protocol.public if cloaker.uses_public_identities else {}
    with tqdm(total=sum(map(len, to_cloak.values())), desc=f"cloaking ({cloaker.name})", unit="photo") as bar:
        outcomes = store.cloak_users(to_cloak, executor.cloak, bar, public)
        for user, paths in to_cloak.items():
            for original, outcome in outcomes[user].items():
                if outcome.path is None:
                    skipped.append(Skip(path=str(original), reason=outcome.reason, stage="cloak"))
                    continue
                cloaked[original] = outcome.path
                if original not in costs:
                    costs[original] = (kept_cost(outcome.cost, outcome.path, skipped), outcome.seconds)
            if user not in user_notes and (note := cloaker.user_notes(paths)):
                user_notes[user] = note
    return cloaked


def example_pairs(protocol: Protocol, cloaked: dict[Path, Path], n: int = 3) -> list[ExamplePair]:
    """A cloaked photo of each of the first n protected users, for the HTML report's examples."""
    pairs = []
    for user in protocol.protected:
        photo = next((p for p in protocol.train[user] if cloaked.get(p, p) != p), None)
        if photo is not None and len(pairs) < n:
            pairs.append(ExamplePair(user=user, original=str(photo), cloaked=str(cloaked[photo])))
    return pairs


def protocol_record(protocols: list[Protocol], scenarios: list[ProtocolOptions],
                    galleries: list[dict[str, list[Path]]], plan: RunPlan) -> ProtocolRecord:
    """The first scenario's protocol; a sweep adds one line per scenario."""
    protocol, p = protocols[0], scenarios[0]
    sweep = tuple(Scenario(seed=s.seed, leak_ratio=s.leak_ratio, n_labels=len(q.labels), n_distractors=len(g),
                           n_leaked_photos=sum(map(len, q.leaked.values())))
                  for s, q, g in zip(scenarios, protocols, galleries))
    return ProtocolRecord(
        dataset=plan.dataset, seed=p.seed, users=tuple(protocol.protected), min_photos=p.min_photos,
        max_photos=p.max_photos, train_fraction=p.train_fraction, leak_ratio=p.leak_ratio, isolation=plan.isolation,
        n_labels=len(protocol.labels), labels=tuple(protocol.labels),
        n_train_photos=sum(map(len, protocol.train.values())), n_test_photos=sum(map(len, protocol.test.values())),
        n_leaked_photos=sum(map(len, protocol.leaked.values())), sweep=sweep if len(scenarios) > 1 else None,
        distractors=plan.distractors)


