"""`audit verify`: does cloaking protect this person? The experiment a tracker would run (a person's photos
among a crowd, k folds, a verdict per tracker; LFW View 2's verification of a model is `extractor_check`).

The person's photos join a crowd (LFW by default) as one more identity, "you". In each of k
folds the tracker collects the cloaked copies of the other folds' photos (what the person
posted) and is queried with the fold's originals, which it never saw in any form: a new photo
of the person. The control is the same with the originals posted instead of the cloaks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from audit.cells import (Timings, countermeasure_cells, evaluate_tracker, prepare_countermeasure, unique_skips,
                         with_baseline)
from audit.checkpoints import CellStore, cell_key, protocol_digest
from audit.cloakers import Cloaker
from audit.cloakers.matching import match_cloaked, rules_used
from audit.cloakers.none import NoCloak
from audit.costs import measure_cost, perturbation_record
from audit.datasets import Photo, load_photos, resolve_dataset
from audit.datasets.folders import list_images
from audit.digests import file_digest, rng_for
from audit.embedding.pipeline import FacePipeline
from audit.environment import environment
from audit.extractors import load_extractor, models_here
from audit.plan import VerifyPlan
from audit.protocol import Protocol, ProtocolOptions, build_protocol
from audit.records import (CellResult, CrowdRecord, ExamplePair, MissingModel, PersonRecord, Skip, VerifyReport,
                           VerifyResult)
from audit.statistics import mean_accuracy, wilson
from audit.verdicts import overall_verdict, tracker_verdict, verdicts_by_model
from trackers import CloudTracker, Tracker, build_tracker

PERSON = "you"  # the person's label among the crowd's identities
MIN_PHOTOS = 5  # with 5 folds, each photo is queried once while the 4 others are posted
DEFAULT_TRACKERS = ("faiss", "linear-probe")  # each run on every model of VERIFY_MODELS whose weights are here
VERIFY_MODELS = ("dlib-resnet", "mobilefacenet", "faceres")
FINDING_MODEL = "dlib-resnet"  # whose pipeline decides which of the person's photos show a face

CAVEATS = (
    "A later, better model can be run on the photos you post today; a cloak only has to fail once.",
    "Uncloaked photos of you that are already online (or leak later) weaken the protection: a tracker "
    "that collects them learns your real face.",
    "These results hold for the trackers tried here, not for every tracker; cloud services and trackers "
    "that retrain on cloaked photos can behave differently.",
)


@dataclass
class PersonPhotos:
    usable: list[Path]  # originals with a face, in folder order
    cloaked: dict[Path, Path]
    skipped: list[Skip] = field(default_factory=list)
    naming: dict[str, int] = field(default_factory=dict)  # how many copies each naming rule matched


def default_trackers() -> tuple[list[Tracker], list[dict]]:
    """`faiss` and `linear-probe` on every model whose weights this machine has (or fetches), and,
    for each model it cannot get, why and what to do."""
    here, missing = models_here(VERIFY_MODELS)
    trackers = [build_tracker(tracker).clone(extractor=model) for model in here for tracker in DEFAULT_TRACKERS]
    return trackers, [{"model": model, "reason": reason} for model, reason in missing.items()]


def verify_person(plan: VerifyPlan) -> VerifyReport:
    trackers, missing = (list(plan.trackers), []) if plan.trackers else default_trackers()
    if not trackers:
        raise RuntimeError("no face model could be loaded: " + "; ".join(m["reason"] for m in missing))
    cloud = [t.name for t in trackers if isinstance(t, CloudTracker)]
    if cloud:
        raise ValueError(f"audit verify runs local trackers only ({', '.join(cloud)} is a cloud service); "
                         "test a cloud service with `audit run --tracker ... --allow-cloud-upload`")
    countermeasures = with_baseline(plan.countermeasures)
    for countermeasure in countermeasures:
        for tracker in trackers:
            countermeasure.check_tracker(tracker)
    cloaker = imitated_cloaker(plan, countermeasures)
    person = person_photos(plan)
    crowd, excluded = crowd_protocol(plan, person.usable)
    folds = person_folds(person.usable, plan.folds, plan.seed)
    skipped, timings = list(person.skipped), Timings()
    per_fold: dict[tuple[str, str], list[CellResult]] = {}
    scenario = ProtocolOptions(users=1, seed=plan.seed)
    store = CellStore(plan.cells_folder)
    copies_digest = hashlib.sha256(" ".join(file_digest(person.cloaked[p]) for p in person.usable).encode()).hexdigest()
    for index, fold in enumerate(folds):
        queried = set(fold)
        posted = [p for p in person.usable if p not in queried]
        protocol = Protocol(train={**crowd.train, PERSON: posted}, test={**crowd.test, PERSON: fold},
                            protected=[PERSON], public=crowd.public)
        cloaked = {p: person.cloaked[p] for p in posted}
        photos_digest = protocol_digest(protocol)
        for countermeasure in countermeasures:
            keys = [verify_cell_key(photos_digest, copies_digest, plan, index, countermeasure.cache_id, t.cache_id)
                    for t in trackers]
            for cell in countermeasure_cells(
                    store, keys, trackers, timings,
                    lambda skips: prepare_countermeasure(countermeasure, protocol, cloaker, cloaked, skips, trackers),
                    lambda tracker, prepared, skips: evaluate_tracker(
                        tracker, protocol, scenario, cloaked, 1, "per-user", skips, timings, prepared,
                        cloaker.cloak_extractors if plan.cloaker else [])):
                per_fold.setdefault((cell.result.tracker, countermeasure.label), []).append(cell.result)
                skipped += cell.skipped
    results = tuple(combine_folds(spec, label, fold_results) for (spec, label), fold_results in per_fold.items())
    costs = {o: (measure_cost(o, c, skipped), 0.0) for o, c in person.cloaked.items()}
    identical = sum(cost is not None and cost.linf == 0 for cost, _ in costs.values())  # carry no cloak
    return VerifyReport(
        verdict=overall_verdict(results),
        verdict_by_model=verdicts_by_model(results),
        models_missing=tuple(MissingModel(**m) for m in missing),
        person=PersonRecord(originals=str(plan.originals), cloaked=str(plan.cloaked),
                            n_photos=len(person.usable) + len(person.skipped), n_usable=len(person.usable),
                            identical_copies=identical, folds=len(folds), naming=person.naming),
        crowd=CrowdRecord(dataset=plan.crowd, n_identities=len(crowd.labels),
                          n_train_photos=sum(map(len, crowd.train.values())),
                          n_test_photos=sum(map(len, crowd.test.values())), excluded=tuple(excluded)),
        cloaker=None if plan.cloaker is None else plan.cloaker.spec,
        # the person's own cloaker, untimed
        perturbation=replace(perturbation_record(costs.values()), seconds_per_photo=None),
        examples=tuple(ExamplePair(original=str(o), cloaked=str(c)) for o, c in list(person.cloaked.items())[:3]),
        results=results,
        caveats=CAVEATS,
        skipped=unique_skips(skipped),
        timings={k: round(v, 2) for k, v in timings.seconds.items()},
        environment=environment(plan.seed, plan.command_line),
        cells=store.summary(),
    )


def imitated_cloaker(plan: VerifyPlan, countermeasures: list) -> Cloaker:
    """The cloaker an adaptive tracker imitates (robust retraining cloaks public photos with it)."""
    if plan.cloaker is not None:
        return plan.cloaker
    needs = [c.label for c in countermeasures if c.name == "robust-retraining"]
    if needs:
        raise ValueError(f"{needs[0]} imitates your cloak on public photos: name the cloaker you used with "
                         "--cloaker (e.g. --cloaker fawkes:mode=high)")
    return NoCloak()


def person_photos(plan: VerifyPlan) -> PersonPhotos:
    """The originals with a face and their cloaked copies; clear errors for what makes a verdict impossible."""
    listing = list_images(plan.originals)
    originals = listing.paths
    unusable = {**listing.broken}
    if not originals:
        raise FileNotFoundError(f"no photos (.jpg, .jpeg, .png, .webp) under {plan.originals}"
                                + (f" ({len(unusable)} broken link(s))" if unusable else ""))
    if len(originals) < MIN_PHOTOS:
        raise ValueError(f"{plan.originals} holds {len(originals)} photo(s); at least {MIN_PHOTOS} are needed "
                         "(each is queried once while the others are posted; 10 or more give a tighter answer)")
    copies = match_cloaked(originals, plan.cloaked, plan.mode, allow_extra=False)
    copy_links = list_images(plan.cloaked).broken
    unusable |= {o: f"its cloaked copy {c.path.name} is a {copy_links[c.path]}" for o, c in copies.items()
                 if c.path in copy_links}
    pipeline = FacePipeline(load_extractor(FINDING_MODEL))
    no_face = dict(pipeline.embed_cached([p for p in originals if p not in unusable], "finding your face").skipped)
    usable = [p for p in originals if p not in no_face and p not in unusable]
    if not usable:
        raise ValueError(f"no face was found in any photo under {plan.originals} "
                         f"(e.g. {originals[0].name}: {no_face[originals[0]]})")
    if len(usable) < MIN_PHOTOS:
        listed = ", ".join(p.name for p in no_face)
        raise ValueError(f"only {len(usable)} of {len(originals)} photos show a face the tracker can find "
                         f"(none found in {listed}); at least {MIN_PHOTOS} are needed")
    skipped = [Skip(path=str(p), reason=reason, stage="your photos") for p, reason in unusable.items()]
    skipped += [Skip(path=str(p), reason=reason, stage="finding your face") for p, reason in no_face.items()]
    return PersonPhotos(usable, {p: copies[p].path for p in usable}, skipped, rules_used(copies))


def crowd_protocol(plan: VerifyPlan, person: list[Path]) -> tuple[Protocol, list[str]]:
    """The crowd's split (as `audit run` draws it), without any identity holding one of the person's
    photos: were the person in the crowd under another name, the tracker would find that name."""
    photos = load_photos(resolve_dataset(plan.crowd)).photos
    own = {file_digest(p) for p in person}
    sizes = {p.stat().st_size for p in person}
    excluded = sorted({photo.identity for photo in photos
                       if photo.path.stat().st_size in sizes and file_digest(photo.path) in own})
    crowd: list[Photo] = [photo for photo in photos if photo.identity not in excluded]
    protocol = build_protocol(crowd, ProtocolOptions(users=1, min_photos=plan.crowd_min_photos,
                                                     max_photos=plan.crowd_max_photos, seed=plan.seed))
    return protocol, excluded


def person_folds(photos: list[Path], folds: int, seed: int) -> list[list[Path]]:
    """k seeded folds (k at most the number of photos); each photo is queried in exactly one."""
    order = rng_for(seed, "verify-folds").permutation(len(photos))
    return [sorted(photos[i] for i in part) for part in np.array_split(order, min(folds, len(photos)))]


def combine_folds(spec: str, countermeasure: str, fold_results: list[CellResult]) -> VerifyResult:
    """Tries summed over folds: every photo of the person queried once, with and without cloaks."""
    rows = [r.per_user[0] for r in fold_results]
    tries = sum(row.n_test for row in rows)
    hidden = sum(row.hidden for row in rows)
    control_hidden = sum(row.control_hidden for row in rows)
    protection, control = wilson(hidden, tries), wilson(control_hidden, tries)
    accuracy = [r.normal_accuracy for r in fold_results if r.normal_accuracy.n_photos]
    first = fold_results[0]
    return VerifyResult(
        tracker=spec, tracker_params=first.tracker_params, countermeasure=countermeasure,
        tracker_extractor=first.tracker_extractor, cloak_extractors=first.cloak_extractors, transfer=first.transfer,
        tries=tries, found=tries - hidden, control_found=tries - control_hidden, protection=protection,
        control=control,
        normal_accuracy=mean_accuracy([a.rate for a in accuracy], accuracy[0].n_photos if accuracy else 0),
        hidden_photos=tuple(sorted(p for row in rows for p in row.hidden_photos)),
        verdict=tracker_verdict(tries, protection, control))


def verify_cell_key(photos: str, cloaked: str, plan: VerifyPlan, fold: int, countermeasure_id: str,
                    tracker_id: str) -> str:
    """`audit verify`'s cell: one fold × countermeasure × tracker. `photos` is the fold's `protocol_digest`
    and `cloaked` the digest of the person's cloaked copies' content (they are the user's files, not ours)."""
    material = {"photos": photos, "cloaked": cloaked, "crowd": plan.crowd, "folds": plan.folds,
                "seed": plan.seed, "cloaker": None if plan.cloaker is None else plan.cloaker.spec}
    return cell_key(f"verify-fold{fold}", material, countermeasure_id, tracker_id)
