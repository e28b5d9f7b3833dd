"""The `audit` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from audit.cloakers.matching import FAWKES_V03_MODES
from audit.extractors import load_extractor
from audit.face.detection import BUILT_IN as FACE_DETECTORS
from audit.plan import RunPlan, defaults, verify_defaults
from audit.plugins import KINDS, registered, summaries
from audit.records import CellCounts, Document, RunReport


def _setup_torch() -> None:
    import torch

    from audit.devices import reuse_freed_memory

    torch.set_num_threads(os.cpu_count() or 1)
    reuse_freed_memory()


def _pipeline(extractor: str, face_detector: str, no_cache: bool, aligned: bool = False, fallback: str = "skip"):
    from audit.embedding.pipeline import FacePipeline

    try:
        return FacePipeline(load_extractor(extractor), face_detector=face_detector, aligned=aligned, fallback=fallback,
                            remember_faces=not no_cache)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        raise click.ClickException(str(err)) from err


def _cache(no_cache: bool):
    from audit.embedding.cache import EmbeddingCache

    return None if no_cache else EmbeddingCache()


def _interrupt_on_sigterm(ctx: click.Context) -> None:
    """A terminated run cleans up as after Ctrl-C (cloud galleries included), for this command only:
    the process's own handler is back when the command ends (a process that runs `audit run` in-process,
    such as a test session, must still be stoppable by SIGTERM, and so must the children it forks)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cloak-audit")
def main() -> None:
    """cloak-audit: does a face cloak still protect when the tracker fights back?"""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(message)s")


def _renamed(old: str, new: str):
    """A hidden option under an old name that fails with the new one (two things were called "detector")."""

    def fail(ctx: click.Context, param: click.Parameter, value: tuple) -> None:
        if value:
            raise click.UsageError(f"{old} is now {new}")

    return click.option(old, multiple=True, hidden=True, expose_value=False, callback=fail)


@main.command("list")
@click.argument("what", type=click.Choice([*(kind.listing for kind in KINDS.values()), "detectors"]))
def list_plugins(what: str) -> None:
    """List the registered plugins of one kind (built-ins and those outside packages register)."""
    if what == "detectors":
        raise click.UsageError("'detectors' is ambiguous: audit list face-detectors, or audit list cloak-detectors")
    kind = next(kind for kind in KINDS.values() if kind.listing == what)
    for name, description in summaries(registered(kind.name)).items():
        click.echo(f"{name:18} {description}")


@main.command()
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .npz: embeddings, paths, identities, skipped, and the extractor that computed them "
                   "(usable as --distractors of audit run).")
@click.option("--extractor", default="dlib-resnet", show_default=True, help="Extractor name[:options].")
@click.option("--face-detector", default="mtcnn", show_default=True,
              help=f"Face detector name[:options]: {', '.join(FACE_DETECTORS)}.")
@_renamed("--detector", "--face-detector")
@click.option("--aligned", is_flag=True, help="Inputs are chips already aligned to the extractor's template.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the embedding and face caches.")
def embed(input_dir: Path, out: Path, extractor: str, face_detector: str, aligned: bool, no_cache: bool) -> None:
    """Embed every photo under INPUT_DIR (identity = the photo's folder)."""
    from audit.datasets import list_images
    from audit.datasets.embedded import write_embeddings
    from audit.extractors import extractor_spec

    _setup_torch()
    listing = list_images(input_dir)
    paths = listing.paths
    if not paths:
        raise click.ClickException(f"no photos (.jpg, .jpeg, .png, .webp) under {input_dir}"
                                   + (f" ({len(listing.broken)} broken link(s))" if listing.broken else ""))
    pipeline = _pipeline(extractor, face_detector, no_cache, aligned)
    result = pipeline.embed_files(paths, _cache(no_cache))
    relative = [str(p.relative_to(input_dir)) for p in result.paths]
    identities = [p.parent.name if p.parent != input_dir else "" for p in result.paths]
    skipped = sorted((str(p.relative_to(input_dir)), reason) for p, reason in [*result.skipped, *listing.broken.items()])
    write_embeddings(out, result.embeddings, relative, identities, skipped, extractor_spec(extractor).model_id,
                     pipeline.extractor.embedding_id, pipeline.cache_id)
    click.echo(f"embedded {len(result.paths)} of {len(paths) + len(listing.broken)} photos with {extractor} → {out}")
    for path, reason in skipped:
        click.echo(f"  skipped {path}: {reason}")


@main.command("check-extractor")
@click.option("--extractor", default="dlib-resnet", show_default=True, help="Extractor name[:options].")
@click.option("--lfw", "lfw", default="lfw", show_default=True,
              help="LFW folder (with pairs.txt), or 'lfw' to find or download it.")
@click.option("--folds", default="1-10", show_default=True, help="View 2 folds, e.g. 1-10 or 1,2.")
@click.option("--face-detector", default="mtcnn", show_default=True,
              help=f"Face detector name[:options]: {', '.join(FACE_DETECTORS)}.")
@_renamed("--detector", "--face-detector")
@click.option("--fallback/--no-fallback", default=True, show_default=True,
              help="Centre-crop photos with no detected face instead of counting their pairs as errors.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write results as JSON.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the embedding and face caches.")
def check_extractor(extractor: str, lfw: str, folds: str, face_detector: str, fallback: bool,
                    json_out: Path | None, no_cache: bool) -> None:
    """LFW View 2 verification accuracy (threshold chosen on the other folds)."""
    from audit.datasets import resolve_dataset
    from audit.verification import lfw_view2

    _setup_torch()
    pipeline = _pipeline(extractor, face_detector, no_cache, fallback="centre" if fallback else "skip")
    try:
        view = lfw_view2(resolve_dataset(lfw), folds, pipeline, _cache(no_cache))
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    accuracies = view.accuracies
    sd = float(accuracies.std(ddof=1)) if len(accuracies) > 1 else 0.0
    click.echo(f"LFW View 2, {extractor}, face detector {face_detector}, folds {folds}: {view.n_photos} photos, "
               f"{len(view.unusable)} unusable, {len(view.centre_cropped)} centre-cropped (no face detected)")
    for r in view.folds:
        click.echo(f"  fold {r.fold:2}: accuracy {r.accuracy:.4f}  threshold {r.threshold:.4f}  "
                   f"({r.n_unusable} of {r.n_pairs} pairs unusable)")
    how = "the extractor's own threshold" if view.fixed_threshold else "threshold chosen on the other folds"
    click.echo(f"mean accuracy {accuracies.mean():.4f} ± {sd:.4f} (sd over folds; {how})")
    if json_out:
        record = {"extractor": extractor, "face_detector": face_detector, "folds": [r.fold for r in view.folds],
                  "mean_accuracy": float(accuracies.mean()), "sd_accuracy": sd,
                  "per_fold": [vars(r) for r in view.folds], "n_photos": view.n_photos,
                  "unusable": [[str(p), reason] for p, reason in view.unusable],
                  "centre_cropped": view.centre_cropped, "command": sys.argv}
        json_out.write_text(json.dumps(record, indent=2))


RUN_DEFAULTS = defaults()
VERIFY_DEFAULTS = verify_defaults()


@main.command()
@click.option("--cloaker", default=RUN_DEFAULTS["cloaker"], show_default=True,
              help="Cloaker name[:key=value,...], e.g. fawkes:mode=high, noise:budget=dssim:0.007, "
                   "precomputed:dir=DIR; budget=lpips:0.02,0.04,0.12 sweeps the cloak's visibility.")
@click.option("--tracker", multiple=True, default=RUN_DEFAULTS["tracker"], show_default=True,
              help="Tracker name[:key=value,...]; repeat for several, e.g. linear-probe:head=softmax.")
@click.option("--dataset", default=RUN_DEFAULTS["dataset"], show_default=True,
              help="'lfw' (found under $AUDIT_DATA or downloaded), an identity-folder path, or a CSV manifest.")
@click.option("--users", default=RUN_DEFAULTS["users"], show_default=True, type=click.IntRange(1),
              help="Protected users drawn (seeded) among identities with --min-photos photos.")
@click.option("--user", multiple=True, help="Protect this identity (repeatable); overrides --users.")
@click.option("--min-photos", default=RUN_DEFAULTS["min_photos"], show_default=True, type=click.IntRange(2),
              help="Photos an identity needs to be a protected user or a label.")
@click.option("--max-photos", default=RUN_DEFAULTS["max_photos"], show_default=True, type=click.IntRange(2),
              help="At most this many photos per identity (a seeded sample), so no identity dominates.")
@click.option("--labels", default=None, type=str,
              help="Identities the tracker knows (default: all eligible); a list sweeps, e.g. 2,4,8,all.")
@click.option("--distractors", default=None,
              help="Identities added to every search tracker's gallery, never protected: lfw-singletons (LFW's "
                   "4,069 people with one photo), an identity folder, a CSV manifest, or embeddings computed "
                   "beforehand with audit embed (FILE.npz, joined as they are).")
@click.option("--distractor-count", default=None, type=str,
              help="How many distractor identities (default: all); a list sweeps the gallery size, e.g. 0,1000,4069.")
@click.option("--leak-ratio", default=str(RUN_DEFAULTS["leak_ratio"]), show_default=True, type=str,
              help="Share of each protected user's training photos left uncloaked; a list sweeps, e.g. 0,0.15,0.3,0.5.")
@click.option("--isolation", default=RUN_DEFAULTS["isolation"], show_default=True, type=click.Choice(["per-user", "cohort"]),
              help="One tracker per protected user, or all protected users in one tracker.")
@click.option("--rank", default=RUN_DEFAULTS["rank"], show_default=True, type=click.IntRange(1),
              help="k for the rank-k figure of search trackers.")
@click.option("--countermeasure", multiple=True,
              help="Tracker-side countermeasure, repeatable; a list of values sweeps. Transforms: "
                   "blur:kernel=3,5,7, jpeg:quality=10,at=[train,test], noise:sigma=8, augment:copies=2; adaptive "
                   "trackers: detect-and-drop:cloak_detector=2-means, robust-retraining:public_users=20,epochs=10. "
                   "Each value is its own result beside 'none'.")
@_renamed("--detector", "--cloak-detector")
@click.option("--cloak-detector", multiple=True,
              help="Cloak detector scored over protected vs clean classes, repeatable: 2-means (with leaked "
                   "originals), target-closeness (without); on each tracker's own model unless extractor= names one.")
@click.option("--allow-cloud-upload", is_flag=True,
              help="Let cloud trackers (rekognition, azure, facepp) upload photos; without it the run only says "
                   "what it would send where.")
@click.option("--max-api-calls", type=click.IntRange(1), default=None,
              help="Stop (and clean up) once cloud trackers have made this many API calls.")
@click.option("--seed", default=str(RUN_DEFAULTS["seed"]), show_default=True, type=str,
              help="Seed of the users' draw and split; a list sweeps, e.g. 0,1,2 (per seed and pooled).")
@click.option("--out", default=RUN_DEFAULTS["out"], show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.json and report.md.")
@click.option("--executor", default=RUN_DEFAULTS["executor"], show_default=True,
              help="Where cloak jobs and cells run: local, or ray (a running Ray cluster, else a Ray instance "
                   "started for the run), e.g. ray:address=auto,num_gpus_per_cloak=1,num_cpus_per_cell=2.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML file with the same options (command-line values win).")
@click.pass_context
def run(ctx: click.Context, config: Path | None, **_: object) -> None:
    """Cloak the protected users' photos, play the tracker, and score the protection."""
    from audit.plan import RunPlan, merge_options

    _setup_torch()
    _interrupt_on_sigterm(ctx)
    given = {name: ctx.params[name] for name in RUN_DEFAULTS
             if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
    try:
        plan = RunPlan.from_values(merge_options(given, config), " ".join(["audit", *sys.argv[1:]]))
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    _run_plan(plan)


def _run_plan(plan: RunPlan) -> RunReport:
    """Run a plan, write its reports and record it; a stopped run keeps the results it finished (the same command
    computes only the rest), and every error says what to do."""
    from audit.runner import CloudUploadRefused, RunStopped, run_audit
    from reports import print_summary, write_reports

    try:
        report = run_audit(plan)
    except CloudUploadRefused as refused:
        click.echo(str(refused))
        raise click.ClickException("nothing was uploaded: add --allow-cloud-upload to run with cloud trackers") from None
    except RunStopped as stopped:
        if stopped.report is not None:
            json_path, _ = write_reports(stopped.report, plan.out)
            _remember_run(stopped.report, json_path)
            click.echo(f"the run stopped; the {len(stopped.report.results)} result(s) it finished are in "
                       f"{json_path}; the same command again computes only the rest", err=True)
        if isinstance(stopped.cause, KeyboardInterrupt):
            raise click.Abort() from None
        if isinstance(stopped.cause, (ValueError, FileNotFoundError, RuntimeError)):
            raise click.ClickException(str(stopped.cause)) from stopped.cause
        raise stopped.cause from None
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        raise click.ClickException(str(err)) from err
    json_path, md_path = write_reports(report, plan.out)
    entry = _remember_run(report, json_path)
    print_summary(report)
    click.echo(_cells_line(report.cells, plan.cells_folder))
    click.echo(f"report: {json_path.parent / 'report.html'} (and {md_path.name}, {json_path.name}; "
               f"history entry {entry})")
    return report


def _cells_line(cells: CellCounts, folder: Path) -> str:
    """How many cells a finished run or verify computed and how many it read back."""
    return f"cells: {cells.computed} computed, {cells.reused} reused (finished earlier; kept in {folder})"


def _cells_kept(folder: Path) -> str:
    """What a stopped verify leaves behind: the cells it finished, which the same command reuses ("" when none)."""
    n = len(list(folder.glob("*.json"))) if folder.is_dir() else 0
    return f"{n} finished cell(s) are kept in {folder}: the same command again computes only the rest" if n else ""


def _remember_run(report: RunReport, json_path: Path) -> int | None:
    from reports.formatting import run_headline

    return _remember("run", report, json_path.resolve(), report.environment.command_line, report.cloaker.name,
                     sorted(report.trackers), run_headline(report))


def _remember(kind: str, report: Document, where: Path, command: str, cloaker: str, trackers: list[str],
              headline: str) -> int | None:
    """Record in the history; a history that cannot be written warns but loses no report."""
    import sqlite3

    from audit.history import History

    try:
        with History() as history:
            return history.record(kind, report, where, command, cloaker, trackers, headline)
    except (sqlite3.Error, OSError) as err:
        click.echo(f"warning: the run history could not be written ({err}); set AUDIT_HISTORY to a writable file",
                   err=True)
        return None


@main.command()
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--cloaker", default="fawkes", show_default=True, help="Cloaker name[:key=value,...].")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the cloaked copies (same relative names; the cloaker's image format).")
def cloak(input_dir: Path, cloaker: str, out_dir: Path) -> None:
    """Cloak every photo under INPUT_DIR (each sub-folder one person) and print the perceptual cost."""
    from audit.cloakers import build_cloaker
    from audit.cloakers.folder import cloak_folder
    from audit.costs import perturbation_record
    from reports.formatting import cost_text

    _setup_torch()
    try:
        chosen = build_cloaker(cloaker)
        chosen.use_public_identities({})
        done = cloak_folder(chosen, input_dir, out_dir)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"cloaked {len(done.written)} photos with {chosen!r} → {out_dir}")
    click.echo(f"perceptual cost (whole photo, as saved): {cost_text(perturbation_record(done.costs.values()))}")
    for skip in done.skipped:
        click.echo(f"  skipped {skip.path}: {skip.reason}")


@main.command()
@click.option("--original", "originals", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Your original photos (at least 5; 10 or more for a tighter answer).")
@click.option("--cloaked", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The cloaked copies you posted, named like the originals (x.jpg ↔ x.png, x_cloaked.png, "
                   "x_high_cloaked.png, x_attacked.png).")
@click.option("--mode", type=click.Choice(FAWKES_V03_MODES),
              help="Take the copies of this Fawkes v0.3 mode (x_MODE_cloaked.png) where --cloaked holds several.")
@click.option("--tracker", multiple=True,
              help="Tracker name[:key=value,...], repeatable. Default: faiss and linear-probe on every face model "
                   "available (dlib-resnet, mobilefacenet, faceres).")
@click.option("--crowd", default=VERIFY_DEFAULTS["crowd"], show_default=True,
              help="The people you hide among: 'lfw', an identity-folder path, or a CSV manifest.")
@click.option("--crowd-min-photos", default=VERIFY_DEFAULTS["crowd_min_photos"], show_default=True,
              type=click.IntRange(2),
              help="Photos a crowd member needs to be one of the people the tracker knows.")
@click.option("--crowd-max-photos", default=VERIFY_DEFAULTS["crowd_max_photos"], show_default=True,
              type=click.IntRange(2),
              help="At most this many photos per crowd member (a seeded sample).")
@click.option("--folds", default=VERIFY_DEFAULTS["folds"], show_default=True, type=click.IntRange(2),
              help="Rounds: each posts the other rounds' cloaked photos and queries this round's originals.")
@click.option("--countermeasure", multiple=True,
              help="Also try a tracker that fights back, e.g. robust-retraining (slow; needs --cloaker), "
                   "blur:kernel=5.")
@click.option("--cloaker", default=VERIFY_DEFAULTS["cloaker"],
              help="The cloaker you used (robust-retraining imitates it), e.g. fawkes:mode=high.")
@click.option("--seed", default=VERIFY_DEFAULTS["seed"], show_default=True, type=int)
@click.option("--out", default=VERIFY_DEFAULTS["out"], show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for verify.json, verify.md and verify.html, and the finished cells the same command "
                   "reuses.")
def verify(originals: Path, cloaked: Path, mode: str | None, tracker: tuple[str, ...], crowd: str,
           crowd_min_photos: int, crowd_max_photos: int, folds: int, countermeasure: tuple[str, ...],
           cloaker: str | None, seed: int, out: Path) -> None:
    """Does cloaking protect you? Plays a tracker that collected your cloaked photos, then meets a new one."""
    from audit.personal_verify import verify_person
    from audit.plan import VerifyOptions
    from reports import write_documents
    from reports.verify import render_verify_html, render_verify_markdown, verify_headline

    _setup_torch()
    command = " ".join(["audit", *sys.argv[1:]])
    try:
        options = VerifyOptions(
            originals, cloaked, mode=mode, trackers=tracker, crowd=crowd, folds=folds, countermeasures=countermeasure,
            cloaker=cloaker, crowd_min_photos=crowd_min_photos, crowd_max_photos=crowd_max_photos, seed=seed, out=out,
            command_line=command)
        record = verify_person(options)
    except KeyboardInterrupt:
        click.echo(_cells_kept(out / "cells") or "nothing was finished", err=True)
        raise click.Abort() from None
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        kept = _cells_kept(out / "cells")
        raise click.ClickException(f"{err}; {kept}" if kept else str(err)) from err
    markdown = render_verify_markdown(record)
    json_path, _ = write_documents(out, "verify", record, markdown, render_verify_html(record))
    click.echo(markdown)
    entry = _remember("verify", record, json_path.resolve(), command, cloaker or "(yours)", record.trackers,
                      verify_headline(record))
    click.echo(_cells_line(record.cells, options.cells_folder))
    click.echo(f"report: {out / 'verify.html'} (and verify.md, verify.json; history entry {entry})")


@main.command()
@click.argument("run_a", type=click.Path(exists=True, path_type=Path))
@click.argument("run_b", type=click.Path(exists=True, path_type=Path))
@click.option("--fail-if-worse", is_flag=True, help="Exit 1 when any cell of B is significantly worse than A's "
              "(a release gate).")
@click.option("--margin", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="With --fail-if-worse: tolerate a drop up to this much protection (0.05 = 5 points).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write compare.md, compare.json and compare.html to this folder.")
def compare(run_a: Path, run_b: Path, fail_if_worse: bool, margin: float, out: Path | None) -> None:
    """Change in protection from A to B, cell by cell: two runs (folders or report.json files), or two scorecards of
    one battery (bench folders or scorecard.json files), whose worst case is compared too."""
    from audit.comparison import compare_reports, compare_scorecards, worse_cells
    from audit.records.files import load_report, load_scorecard
    from reports import write_documents
    from reports.compare import comparison_headline, render_compare_html, render_comparison_markdown

    command = " ".join(["audit", *sys.argv[1:]])
    try:
        cards = load_scorecard(run_a), load_scorecard(run_b)
        if any(cards) and not all(cards):
            raise ValueError("compare two runs, or two scorecards: not one of each")
        comparison = (compare_scorecards(*cards, command) if all(cards)
                      else compare_reports(load_report(run_a), load_report(run_b), command))
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    markdown = render_comparison_markdown(comparison, str(run_a), str(run_b))
    click.echo(markdown)
    where = out or run_b
    if out:
        write_documents(out, "compare", comparison, markdown, render_compare_html(comparison, str(run_a), str(run_b)))
        click.echo(f"comparison: {out / 'compare.html'} (and compare.md, compare.json)")
    _remember("compare", comparison, where.resolve(), comparison.command,
              f"{comparison.a.cloaker} → {comparison.b.cloaker}", comparison.trackers,
              comparison_headline(comparison))
    if fail_if_worse:
        worse = worse_cells(comparison, margin)
        for cell in worse:
            click.echo(f"WORSE: {cell.tracker} / {cell.countermeasure}: {100 * cell.change:+.1f} points "
                       f"[{100 * cell.ci95[0]:+.1f}, {100 * cell.ci95[1]:+.1f}]", err=True)
        if worse:
            raise SystemExit(1)


@main.command()
@click.option("--cloaker", required=True, help="The cloak to score: name[:key=value,...], as for audit run.")
@click.option("--name", help="The cloak's name on its scorecard and the leaderboard (default: the cloaker spec).")
@click.option("--battery", default="standard", show_default=True,
              help="standard or quick (the newest version), a version (standard-v1), or a battery TOML file.")
@click.option("--out", default="audit-bench", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for scorecard.json, .md and .html, and each part's run (its cells, resumed if stopped).")
@click.option("--executor", default=RUN_DEFAULTS["executor"], show_default=True,
              help="Where cloak jobs and cells run: local, or ray[:address=...], as for audit run.")
@click.pass_context
def bench(ctx: click.Context, cloaker: str, name: str | None, battery: str, out: Path, executor: str) -> None:
    """Run a fixed, versioned battery against a cloak and write its scorecard (worst-case protection first)."""
    from audit.battery import Battery
    from audit.battery.scorecard import scorecard
    from audit.extractors import models_here
    from reports import write_documents
    from reports.scorecard import headline, render_scorecard_html, render_scorecard_markdown

    _setup_torch()
    _interrupt_on_sigterm(ctx)
    command = " ".join(["audit", *sys.argv[1:]])
    try:
        chosen = Battery.load(battery)
    except (ValueError, OSError) as err:
        raise click.ClickException(str(err)) from err
    models, missing = models_here(chosen.models)
    if not models:
        raise click.ClickException("no face model could be loaded: " + "; ".join(missing.values()))
    for model, reason in missing.items():
        click.echo(f"warning: {model} is left out of the battery ({reason})", err=True)
    reports, runs = [], []
    for part, plan in chosen.plans(cloaker, out, models, executor, command):
        click.echo(f"{chosen.version}, part {part.name}: {len(plan.trackers)} trackers, "
                   f"{1 + len(part.countermeasures)} countermeasures, leak ratios {list(chosen.leak_ratios)}")
        reports.append(_run_plan(plan))
        runs.append(str(plan.out))
    card = scorecard(chosen.version, name or reports[0].cloaker.spec, reports, runs, list(missing), chosen.seeds[0],
                     command)
    write_documents(out, "scorecard", card, render_scorecard_markdown(card), render_scorecard_html(card))
    click.echo(f"{card.name} on {card.battery}: {headline(card)}")
    click.echo(f"scorecard: {out / 'scorecard.html'} (and scorecard.md, scorecard.json)")


@main.command()
@click.argument("scorecards", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", default="audit-leaderboard", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for leaderboard.md and leaderboard.html.")
def leaderboard(scorecards: tuple[Path, ...], out: Path) -> None:
    """Rank cloaks by worst-case protection from their scorecards (bench folders or scorecard.json files) of one
    battery version; the cost is shown beside each."""
    from audit.paths import atomic_write_bytes
    from audit.records.files import load_scorecard
    from reports.leaderboard import render_leaderboard

    cards = []
    for path in scorecards:
        card = load_scorecard(path)
        if card is None:
            raise click.ClickException(f"{path}: no scorecard.json (give a bench folder or its scorecard.json)")
        cards.append(card)
    try:
        markdown, html = render_leaderboard(cards)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    atomic_write_bytes(out / "leaderboard.md", markdown.encode())
    atomic_write_bytes(out / "leaderboard.html", html.encode())
    click.echo(markdown)
    click.echo(f"leaderboard: {out / 'leaderboard.html'} (and leaderboard.md)")


@main.group(invoke_without_command=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1), help="Show the latest N entries.")
@click.pass_context
def history(ctx: click.Context, limit: int) -> None:
    """Past runs, verifications and comparisons (newest first); `audit history show ID` prints one."""
    if ctx.invoked_subcommand is not None:
        return
    from audit.history import History

    with History() as store:
        entries = store.entries(limit)
        if not entries:
            click.echo(f"no entries yet in {store.path}")
        for e in entries:
            click.echo(f"{e.id:>5}  {e.at}  {e.kind:8} {e.cloaker or '-':10} {e.trackers or '-':24} {e.headline}")


@history.command("show")
@click.argument("entry_id", type=int)
def history_show(entry_id: int) -> None:
    """Print one entry: when, the exact command, where its report is, and the report."""
    from audit.history import History
    from reports import render_run_markdown
    from reports.compare import render_comparison_markdown
    from reports.verify import render_verify_markdown

    with History() as store:
        try:
            entry = store.get(entry_id)
        except KeyError as err:
            raise click.ClickException(str(err.args[0])) from None
    click.echo(f"entry {entry.id} ({entry.kind}) at {entry.at}\ncommand: {entry.command}\nreport: {entry.report_path}\n")
    try:
        document = entry.report
    except ValueError as err:  # RecordError: a document this version cannot read
        raise click.ClickException(f"history entry {entry.id} cannot be shown: {err}") from None
    if entry.kind == "run":
        click.echo(render_run_markdown(document))
    elif entry.kind == "verify":
        click.echo(render_verify_markdown(document))
    else:
        click.echo(render_comparison_markdown(document, "A", "B"))


@main.group()
def cloud() -> None:
    """Cloud tracker housekeeping."""


@cloud.command("cleanup")
@click.option("--provider", required=True, type=click.Choice(["rekognition", "azure", "facepp"]))
@click.option("--region", help="rekognition: AWS region (default: boto3's); facepp: us or cn.")
@click.option("--endpoint", help="Service endpoint (azure: instead of AZURE_FACE_ENDPOINT).")
@click.option("--dry-run", is_flag=True, help="List what would be deleted and delete nothing.")
def cloud_cleanup(provider: str, region: str | None, endpoint: str | None, dry_run: bool) -> None:
    """Delete galleries left behind by runs (only names starting with cloak-audit-)."""
    from cloud_clients import RESOURCE_PREFIX, CloudError
    from cloud_clients.connect import connect

    try:
        client = connect(provider, region, endpoint)
        leftovers = sorted(name for name in client.list_galleries() if name.startswith(RESOURCE_PREFIX))
        if not leftovers:
            click.echo(f"{provider} at {client.where}: nothing named {RESOURCE_PREFIX}* to delete")
            return
        for name in leftovers:
            if not dry_run:
                client.delete_gallery(name)
            click.echo(f"{'would delete' if dry_run else 'deleted'} {provider} {name}")
    except CloudError as err:
        raise click.ClickException(str(err)) from err


if __name__ == "__main__":
    main()
