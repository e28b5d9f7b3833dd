"""How one cell is computed, for `audit run` and `audit verify` alike: a countermeasure prepared
over the photos as posted, a tracker fitted on them (a control, then each protected user's
tracker) and queried with the uncloaked test photos, and the protection scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from audit.checkpoints import CellStore, FinishedCell
from audit.cloakers import Cloaker
from audit.datasets.distractors import NO_DISTRACTORS, Distractors
from audit.protocol import Protocol, ProtocolOptions
from audit.records import CellResult, DroppedPhotos, RankK, Rate, Skip, UserRow
from audit.statistics import clustered_rate, mean_accuracy
from cloud_clients import CloudSession
from countermeasures import AdaptiveCountermeasure, Countermeasure, Transform
from countermeasures.transforms.files import transform_files
from countermeasures.transforms.none import NoTransform
from trackers import CloudTracker, Tracker
from trackers.base import Ranking


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


def unique_skips(skipped: list[Skip]) -> tuple[Skip, ...]:
    """Each (photo, stage, reason) once, sorted: a swept run meets the same bad photo many times."""
    return tuple(sorted(set(skipped), key=lambda s: (s.path, s.stage, s.reason)))


def with_baseline(countermeasures: tuple[Countermeasure, ...]) -> list[Countermeasure]:
    """`none` first (every countermeasure is compared with it), then each distinct setting once."""
    baseline = NoTransform()
    chosen: dict[str, Countermeasure] = {baseline.cache_id: baseline}
    for countermeasure in countermeasures:
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
                           cloaked: dict[Path, Path], skipped: list[Skip], trackers: list[Tracker],
                           distractors: Distractors = NO_DISTRACTORS) -> PreparedCountermeasure:
    """An adaptive tracker's own preparation, or a transform of every training photo as posted
    (originals, cloaked copies, distractors' photos: the tracker treats its whole gallery alike) and, if asked, of
    the test photos."""
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
                skipped.append(Skip(path=str(photo), reason=result, stage=stage))
            else:
                mapping[photo] = result
        return mapping

    posted = sorted(photos_of(protocol.train, distractors.photos) | set(cloaked.values()))
    train_views = [view(t, posted) for t in transform.draws()] if "train" in transform.stages else []
    tests = [p for paths in protocol.test.values() for p in paths]
    return PreparedCountermeasure(transform, train_views, view(transform, tests) if "test" in transform.stages else None)


def photos_of(*groups: Mapping[str, list[Path]]) -> set[Path]:
    """Every photo of every identity in `groups` (identity → photos)."""
    return {p for group in groups for paths in group.values() for p in paths}


@dataclass(frozen=True)
class CellJob:
    """One cell to compute: a tracker under a countermeasure, and the key it is kept under."""

    key: str
    countermeasure: Countermeasure
    tracker: Tracker


@dataclass(frozen=True)
class ScenarioCells:
    """What every cell of one scenario reads; plain data, so it travels to a cluster's workers whole."""

    scenario: ProtocolOptions
    protocol: Protocol
    cloaked: dict[Path, Path]  # each protected user's training photo → its cloaked copy
    rank: int
    isolation: str
    trackers: list[Tracker]  # all of the run's trackers: robust retraining prepares a model for each, run here
    cloaker: Cloaker  # unloaded (a clone travels light): robust retraining cloaks public photos with it
    distractors: Distractors = NO_DISTRACTORS  # extra gallery identities (search trackers)

    def prepare(self, countermeasure: Countermeasure, cloaker: Cloaker, skipped: list[Skip],
                trackers: list[Tracker] | None = None) -> PreparedCountermeasure:
        """The countermeasure prepared for `trackers` (all of the run's unless given)."""
        return prepare_countermeasure(countermeasure, self.protocol, cloaker, self.cloaked, skipped,
                                      self.trackers if trackers is None else trackers, self.distractors)

    def evaluate(self, tracker: Tracker, prepared: PreparedCountermeasure, skipped: list[Skip], timings: Timings,
                 session: CloudSession | None) -> CellResult:
        return evaluate_tracker(tracker, self.protocol, self.scenario, self.cloaked, self.rank, self.isolation, skipped,
                                timings, prepared, self.cloaker.cloak_extractors, session, self.distractors)

    def photos(self) -> list[Path]:
        """Every file a cell may read: the labels' training and test photos, public photos, cloaked copies,
        distractors."""
        groups = (self.protocol.train, self.protocol.test, self.protocol.public, self.distractors.photos)
        return sorted(photos_of(*groups) | set(self.cloaked.values()))

    def moved(self, where: Mapping[Path, Path]) -> ScenarioCells:
        """The same cells over copies of the photos (`where`: each path → its copy)."""
        def moved(groups: dict[str, list[Path]]) -> dict[str, list[Path]]:
            return {name: [where[p] for p in paths] for name, paths in groups.items()}

        protocol = replace(self.protocol, train=moved(self.protocol.train), test=moved(self.protocol.test),
                           leaked=moved(self.protocol.leaked), public=moved(self.protocol.public))
        return replace(self, protocol=protocol, cloaked={where[o]: where[c] for o, c in self.cloaked.items()},
                       distractors=replace(self.distractors, photos=moved(self.distractors.photos)))


def compute_cell(work: ScenarioCells, job: CellJob) -> tuple[CellResult, list[Skip], dict[str, float]]:
    """One cell on its own, as a cluster worker computes it: a fresh copy of the cloaker and the
    countermeasure prepared for this cell's tracker alone (robust retraining fine-tunes only its model).
    Returns the result, its skips and its stage seconds."""
    timings, skipped = Timings(), []
    cloaker = work.cloaker.clone()
    cloaker.use_public_identities(work.protocol.public)
    began = time.perf_counter()
    prepared = work.prepare(job.countermeasure, cloaker, skipped, [job.tracker])
    timings.add("countermeasure", began)
    return work.evaluate(job.tracker, prepared, skipped, timings, None), skipped, timings.seconds


def countermeasure_cells(store: CellStore, keys: list[str], trackers: list[Tracker], timings: Timings,
                         prepare: Callable[[list[Skip]], PreparedCountermeasure],
                         evaluate: Callable[[Tracker, PreparedCountermeasure, list[Skip]], CellResult]
                         ) -> Iterator[FinishedCell]:
    """One countermeasure's cells, a tracker each: read back when a run finished them before, else computed
    and kept the moment each finishes, and handed over one by one (a later cell's failure must not hide an
    earlier one from the report). The countermeasure is prepared (with the skips it records) only when a
    cell needs it: robust retraining is a training run."""
    prepared, preparation_skips = None, []
    for tracker, key in zip(trackers, keys):
        cell = store.load(key)
        if cell is None:
            if prepared is None:
                began = time.perf_counter()
                prepared = prepare(preparation_skips)
                timings.add("countermeasure", began)
            skips = list(preparation_skips)
            cell = store.save(key, evaluate(tracker, prepared, skips), skips)
        yield cell


def training_set(protocol: Protocol, cloaked: dict[Path, Path], cloaked_users: list[str],
                 countermeasure: PreparedCountermeasure | None = None,
                 distractor_photos: Mapping[str, list[Path]] | None = None) -> tuple[list[Path], list[str]]:
    """The distractors' photos (first, as a gallery precomputed from them comes first), then the photos as
    posted (the cloaked users' cloaked copies; leaked ones and failed cloaks stay original), as the
    countermeasure leaves them: replaced by transformed files, or joined by augmented copies."""
    posted = [(path, name) for name, paths in (distractor_photos or {}).items() for path in paths]
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
                     cloaked: dict[Path, Path], rank: int, isolation: str, skipped: list[Skip], timings: Timings,
                     countermeasure: PreparedCountermeasure, cloaker_models: list[str],
                     session: CloudSession | None = None, distractors: Distractors = NO_DISTRACTORS
                     ) -> CellResult:
    """One tracker's result: protection and control, per user, and whether it is a transfer test
    (the tracker's model, or the one an adaptive tracker fine-tuned it from, is none of `cloaker_models`, the
    models the cloak was optimised against).
    `distractors` join every gallery it fits: photos as the countermeasure leaves them, embeddings as they are."""
    depth = rank if tracker.ranks else 1
    users = protocol.protected
    others = [name for name in protocol.labels if name not in users]
    other_tests = [(p, name) for name in others for p in protocol.test[name]]
    queries = [p for name in protocol.labels for p in protocol.test[name]]

    adaptive = countermeasure.adaptive
    copies = set(cloaked.values())
    dropped: dict[str, DroppedPhotos] = {}  # per fit: photos an adaptive tracker left out, and how many were cloaked
    # one tracker per cell, fitted anew on each training set (a control, then each protected user's, or the cohort's)
    model = adaptive.tracker_for(tracker) if adaptive else tracker.clone()
    if isinstance(model, CloudTracker):
        model.use_session(session or CloudSession())

    def fit_and_rank(cloaked_users: list[str], what: str):
        photos, labels = training_set(protocol, cloaked, cloaked_users, countermeasure, distractors.photos)
        if adaptive:
            selection = adaptive.select(photos, labels, tracker)
            photos, labels = selection.photos, selection.labels
            dropped[what] = DroppedPhotos(photos=len(selection.dropped), cloaked=len(copies & set(selection.dropped)))
        try:
            precomputed = {} if distractors.embedded is None else {"precomputed": distractors.embedded}
            timings.timed("fit", model, lambda: model.fit(photos, labels, **precomputed))
            ranking = timings.timed("predict", model, lambda: query(model, queries, depth, countermeasure))
        finally:
            model.close()
        for path, reason in {**model.skipped_, **ranking.skipped}.items():
            label = countermeasure.countermeasure.label
            against = "" if label == "none" else f", countermeasure {label}"
            skipped.append(Skip(path=str(path), reason=reason, stage=f"{tracker.name} ({what}{against})"))
        return ranking

    control = fit_and_rank([], "control")
    cloaked_rankings = ({user: fit_and_rank([user], user) for user in users}
                        if isolation == "per-user" else dict.fromkeys(users, fit_and_rank(users, "cohort")))

    per_user, ranked_hits = [], {"protection": [], "control": []}
    for user in users:
        tests = [p for p in protocol.test[user] if p in control.ranked and p in cloaked_rankings[user].ranked]
        hidden = [p for p in tests if user not in cloaked_rankings[user].top(p)]
        control_hidden = sum(user not in control.top(p) for p in tests)
        ranked_hits["protection"].append(sum(user not in cloaked_rankings[user].top(p, depth) for p in tests))
        ranked_hits["control"].append(sum(user not in control.top(p, depth) for p in tests))
        per_user.append(UserRow(user=user, n_test=len(tests), hidden=len(hidden), control_hidden=control_hidden,
                                protection=len(hidden) / len(tests) if tests else None,
                                control=control_hidden / len(tests) if tests else None,
                                test_photos=tuple(map(photo_name, tests)),
                                hidden_photos=tuple(map(photo_name, hidden))))
    totals = [u.n_test for u in per_user]
    return CellResult(
        tracker=tracker.label, tracker_params=model.plain_params(), tracker_extractor=model.model,
        cloak_extractors=tuple(cloaker_models),
        transfer=(adaptive.derived_from(tracker) if adaptive else model.model) not in cloaker_models,
        countermeasure=countermeasure.countermeasure.label, seed=scenario.seed, leak_ratio=scenario.leak_ratio,
        n_labels=len(protocol.labels), n_distractors=len(distractors), isolation=isolation,
        protection=clustered_rate([u.hidden for u in per_user], totals),
        control=clustered_rate([u.control_hidden for u in per_user], totals),
        normal_accuracy=normal_accuracy(other_tests, cloaked_rankings, users), per_user=tuple(per_user),
        countermeasure_notes=(adaptive.notes(tracker) or None) if adaptive else None,
        dropped=dropped if adaptive and adaptive.drops_photos else None,
        rank_k=RankK(k=depth, protection=clustered_rate(ranked_hits["protection"], totals),
                     control=clustered_rate(ranked_hits["control"], totals)) if depth > 1 else None)


def photo_name(path: Path) -> str:
    """`identity/file`: the same photo has the same name in any run over the same dataset."""
    return f"{path.parent.name}/{path.name}"


def normal_accuracy(other_tests: list[tuple[Path, str]], rankings: dict, users: list[str]) -> Rate:
    """Top-1 accuracy on the unprotected identities' test photos, averaged over the users' trackers."""
    distinct = {id(r): r for r in rankings.values()}.values()
    rates = []
    n = 0
    for ranking in distinct:
        usable = [(p, name) for p, name in other_tests if p in ranking.ranked]
        n = max(n, len(usable))
        if usable:
            rates.append(sum(ranking.top(p) == [name] for p, name in usable) / len(usable))
    return mean_accuracy(rates, n)
