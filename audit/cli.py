"""The `audit` command line: options in, a job of the core run, its documents written and said.

It does no work of its own. `run` and `verify` take their options from the plans' tables (`audit.plan`); every
command's spec strings are parsed once, where they enter; bad input ends a command with its message
(`said_as_errors`), never a traceback.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from audit.plan import PlanOption, RunPlan, VerifyPlan, merge_options, plan_options
from audit.plugins import KINDS, describe_options, registered, summaries
from audit.records import CellCounts, Document, RunReport

ERRORS = (ValueError, FileNotFoundError, RuntimeError)  # what bad input raises: said, not traced


@contextmanager
def said_as_errors(kept: Path | None = None) -> Iterator[None]:
    """Bad input (a bad spec, a missing file, a model that cannot be had) ends the command with its message; `kept`:
    a cells folder whose finished cells the message mentions."""
    try:
        yield
    except ERRORS as err:
        left = cells_kept(kept) if kept is not None else ""
        raise click.ClickException(f"{err}; {left}" if left else str(err)) from err


def command_line() -> str:
    """The command as typed, quoted so it can be typed again (reports and the history keep it)."""
    return shlex.join(["audit", *sys.argv[1:]])


def setup_torch() -> None:
    import torch

    from audit.devices import reuse_freed_memory

    torch.set_num_threads(os.cpu_count() or 1)
    reuse_freed_memory()


def interrupt_on_sigterm(ctx: click.Context) -> None:
    """A terminated run cleans up as after Ctrl-C (cloud galleries included), for this command only:
    the process's own handler is back when the command ends (a process that runs `audit run` in-process,
    such as a test session, must still be stoppable by SIGTERM, and so must the children it forks)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


def renamed(old: str, new: str) -> Callable:
    """A hidden option under an old name that fails with the new one (two things were called "detector")."""

    def fail(ctx: click.Context, param: click.Parameter, value: tuple) -> None:
        if value:
            raise click.UsageError(f"{old} is now {new}")

    return click.option(old, multiple=True, hidden=True, expose_value=False, callback=fail)


def plan_option(spec: PlanOption) -> Callable:
    """One option of a plan's table as a click option (its flag, type, default and help)."""
    if spec.switch:
        return click.option(spec.flag, spec.key, is_flag=True, help=spec.help)
    kind: click.ParamType | type = str
    if spec.choices:
        kind = click.Choice(spec.choices)
    elif spec.minimum is not None:
        kind = click.IntRange(spec.minimum)
    elif spec.folder is not None:
        kind = click.Path(exists=spec.folder == "existing", file_okay=False, path_type=Path)
    elif isinstance(spec.default, int | float):
        kind = type(spec.default)
    default = None if spec.required or spec.default in (None, ()) else spec.default
    return click.option(spec.flag, spec.key, type=kind, multiple=spec.repeatable, required=spec.required,
                        default=default, show_default=default is not None, help=spec.help)


def plan_options_of(plan: type) -> Callable:
    """Every option of a plan's table on a command, in the table's order (and old names that fail)."""
    def decorate(command: Callable) -> Callable:
        for spec in reversed(plan_options(plan).values()):
            command = plan_option(spec)(command)
            for old in spec.renamed:
                command = renamed(f"--{old.replace('_', '-')}", spec.flag)(command)
        return command

    return decorate


def written(ctx: click.Context, plan: type) -> dict[str, object]:
    """The options the command line actually wrote (the plan's table gives every default)."""
    return {spec.key: ctx.params[spec.key] for spec in plan_options(plan).values()
            if ctx.get_parameter_source(spec.key) != click.core.ParameterSource.DEFAULT}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cloak-audit")
def main() -> None:
    """cloak-audit: does a face cloak still protect when the tracker fights back?"""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(message)s")


@main.command("list")
@click.argument("what", type=click.Choice([*(kind.listing for kind in KINDS.values()), "detectors"]))
@click.option("--options", "with_options", is_flag=True, help="Also each plugin's options: default, type and help.")
def list_plugins(what: str, with_options: bool) -> None:
    """List the registered plugins of one kind (built-ins and those outside packages register)."""
    if what == "detectors":
        raise click.UsageError("'detectors' is ambiguous: audit list face-detectors, or audit list cloak-detectors")
    kind = next(kind for kind in KINDS.values() if kind.listing == what)
    plugins = registered(kind.name)
    for name, description in summaries(plugins).items():
        click.echo(f"{name:18} {description}")
        for option in describe_options(plugins[name]) if with_options else ():
            click.echo(f"    {option.name}={option.default}  ({option.types})  {option.help}")


@main.command()
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .npz: embeddings, paths, identities, skipped, and the extractor that computed them "
                   "(usable as --distractors of audit run).")
@click.option("--extractor", default="dlib-resnet", show_default=True, help="Extractor name[:options].")
@click.option("--face-detector", default="mtcnn", show_default=True,
              help="Face detector name[:options] (audit list face-detectors).")
@renamed("--detector", "--face-detector")
@click.option("--aligned", is_flag=True, help="Inputs are chips already aligned to the extractor's template.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the embedding and face caches.")
def embed(input_dir: Path, out: Path, extractor: str, face_detector: str, aligned: bool, no_cache: bool) -> None:
    """Embed every photo under INPUT_DIR (identity = the photo's folder)."""
    from audit.embedding.cache import EmbeddingCache
    from audit.embedding.folder import embed_folder
    from audit.extractors import extractor_spec
    from audit.face.detection import build_face_detector

    setup_torch()
    with said_as_errors():
        done = embed_folder(input_dir, out, extractor_spec(extractor), build_face_detector(face_detector), aligned,
                            None if no_cache else EmbeddingCache())
    click.echo(f"embedded {done.embedded} of {done.files} photos with {extractor} → {out}")
    for path, reason in done.skipped:
        click.echo(f"  skipped {path}: {reason}")


@main.command("check-extractor")
@click.option("--extractor", default="dlib-resnet", show_default=True, help="Extractor name[:options].")
@click.option("--lfw", "lfw", default="lfw", show_default=True,
              help="LFW folder (with pairs.txt), or 'lfw' to find or download it.")
@click.option("--folds", default="1-10", show_default=True, help="View 2 folds, e.g. 1-10 or 1,2.")
@click.option("--face-detector", default="mtcnn", show_default=True,
              help="Face detector name[:options] (audit list face-detectors).")
@renamed("--detector", "--face-detector")
@click.option("--fallback/--no-fallback", default=True, show_default=True,
              help="Centre-crop photos with no detected face instead of counting their pairs as errors.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the result as JSON (an extractor-check document, audit/schemas/).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the embedding and face caches.")
def check_extractor(extractor: str, lfw: str, folds: str, face_detector: str, fallback: bool,
                    json_out: Path | None, no_cache: bool) -> None:
    """LFW View 2 verification accuracy (threshold chosen on the other folds)."""
    from audit.datasets import resolve_dataset
    from audit.embedding.cache import EmbeddingCache
    from audit.extractor_check import check_extractor
    from audit.extractors import extractor_spec
    from audit.face.detection import build_face_detector
    from audit.paths import atomic_write_bytes
    from audit.records import dumps

    setup_torch()
    with said_as_errors():
        check = check_extractor(extractor_spec(extractor), build_face_detector(face_detector), resolve_dataset(lfw),
                                folds, fallback, None if no_cache else EmbeddingCache(), command_line())
    click.echo(f"LFW View 2, {check.extractor}, face detector {check.face_detector}, folds {folds}: {check.n_photos} "
               f"photos, {len(check.unusable)} unusable, {len(check.centre_cropped)} centre-cropped (no face detected)")
    for r in check.per_fold:
        click.echo(f"  fold {r.fold:2}: accuracy {r.accuracy:.4f}  threshold {r.threshold:.4f}  "
                   f"({r.n_unusable} of {r.n_pairs} pairs unusable)")
    how = "the extractor's own threshold" if check.fixed_threshold else "threshold chosen on the other folds"
    click.echo(f"mean accuracy {check.mean_accuracy:.4f} ± {check.sd_accuracy:.4f} (sd over folds; {how})")
    if json_out:
        atomic_write_bytes(json_out, dumps(check).encode())


@main.command()
@plan_options_of(RunPlan)
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML file with the same options (command-line values win).")
@click.pass_context
def run(ctx: click.Context, config: Path | None, **_: object) -> None:
    """Cloak the protected users' photos, play the tracker, and score the protection."""
    setup_torch()
    interrupt_on_sigterm(ctx)
    with said_as_errors():
        plan = RunPlan.from_values(merge_options(RunPlan, written(ctx, RunPlan), config), command_line())
    run_plan(plan)


def run_plan(plan: RunPlan) -> RunReport:
    """Run a plan, write its reports and record it; a stopped run keeps the results it finished (the same command
    computes only the rest), and every error says what to do."""
    from audit.runner import CloudUploadRefused, RunStopped, run_audit
    from reports import print_summary, write_reports
    from reports.formatting import run_headline

    try:
        report = run_audit(plan)
    except CloudUploadRefused as refused:
        click.echo(str(refused))
        raise click.ClickException("nothing was uploaded: add --allow-cloud-upload to run with cloud trackers") from None
    except RunStopped as stopped:
        if stopped.report is not None:
            json_path, _ = write_reports(stopped.report, plan.out)
            remember("run", stopped.report, json_path, stopped.report.cloaker.name, sorted(stopped.report.trackers),
                     run_headline(stopped.report))
            click.echo(f"the run stopped; the {len(stopped.report.results)} result(s) it finished are in "
                       f"{json_path}; the same command again computes only the rest", err=True)
        if isinstance(stopped.cause, KeyboardInterrupt):
            raise click.Abort() from None
        with said_as_errors():
            raise stopped.cause from None
    except ERRORS as err:
        raise click.ClickException(str(err)) from err
    json_path, md_path = write_reports(report, plan.out)
    entry = remember("run", report, json_path, report.cloaker.name, sorted(report.trackers), run_headline(report))
    print_summary(report)
    click.echo(cells_line(report.cells, plan.cells_folder))
    click.echo(f"report: {json_path.parent / 'report.html'} (and {md_path.name}, {json_path.name}; "
               f"history entry {entry})")
    return report


def cells_line(cells: CellCounts, folder: Path) -> str:
    """How many cells a finished run or verify computed and how many it read back."""
    return f"cells: {cells.computed} computed, {cells.reused} reused (finished earlier; kept in {folder})"


def cells_kept(folder: Path) -> str:
    """What a stopped verify leaves behind: the cells it finished, which the same command reuses ("" when none)."""
    n = len(list(folder.glob("*.json"))) if folder.is_dir() else 0
    return f"{n} finished cell(s) are kept in {folder}: the same command again computes only the rest" if n else ""


def remember(kind: str, document: Document, where: Path, cloaker: str, trackers: list[str],
             headline: str) -> int | None:
    """Record in the history; a history that cannot be written warns but loses no report."""
    import sqlite3

    from audit.history import History

    try:
        with History() as history:
            return history.record(kind, document, where.resolve(), command_line(), cloaker, trackers, headline)
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
    from reports.formatting import cost_text

    setup_torch()
    with said_as_errors():
        chosen = build_cloaker(cloaker)
        done = cloak_folder(chosen, input_dir, out_dir)
    click.echo(f"cloaked {len(done.written)} photos with {chosen!r} → {out_dir}")
    click.echo(f"perceptual cost (whole photo, as saved): {cost_text(done.cost)}")
    for skip in done.skipped:
        click.echo(f"  skipped {skip.path}: {skip.reason}")


@main.command()
@plan_options_of(VerifyPlan)
@click.pass_context
def verify(ctx: click.Context, **_: object) -> None:
    """Does cloaking protect you? Plays a tracker that collected your cloaked photos, then meets a new one."""
    from audit.verify import verify_person
    from reports import write_documents
    from reports.verify import render_verify_html, render_verify_markdown, verify_headline

    setup_torch()
    with said_as_errors():
        plan = VerifyPlan.from_values(merge_options(VerifyPlan, written(ctx, VerifyPlan)), command_line())
    try:
        with said_as_errors(plan.cells_folder):
            record = verify_person(plan)
    except KeyboardInterrupt:
        click.echo(cells_kept(plan.cells_folder) or "nothing was finished", err=True)
        raise click.Abort() from None
    markdown = render_verify_markdown(record)
    json_path, _ = write_documents(plan.out, "verify", record, markdown, render_verify_html(record))
    click.echo(markdown)
    entry = remember("verify", record, json_path, record.cloaker or "(yours)", record.trackers,
                     verify_headline(record))
    click.echo(cells_line(record.cells, plan.cells_folder))
    click.echo(f"report: {plan.out / 'verify.html'} (and verify.md, verify.json; history entry {entry})")


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
    from audit.comparison import compare_documents, worse_cells
    from reports import write_documents
    from reports.compare import comparison_headline, render_compare_html, render_comparison_markdown

    with said_as_errors():
        comparison = compare_documents(run_a, run_b, command_line())
    markdown = render_comparison_markdown(comparison, str(run_a), str(run_b))
    click.echo(markdown)
    if out:
        write_documents(out, "compare", comparison, markdown, render_compare_html(comparison, str(run_a), str(run_b)))
        click.echo(f"comparison: {out / 'compare.html'} (and compare.md, compare.json)")
    remember("compare", comparison, out or run_b, f"{comparison.a.cloaker} → {comparison.b.cloaker}",
             comparison.trackers, comparison_headline(comparison))
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
@click.option("--executor", default=plan_options(RunPlan)["executor"].default, show_default=True,
              help="Where cloak jobs and cells run: local, or ray[:address=...], as for audit run.")
@click.pass_context
def bench(ctx: click.Context, cloaker: str, name: str | None, battery: str, out: Path, executor: str) -> None:
    """Run a fixed, versioned battery against a cloak and write its scorecard (worst-case protection first)."""
    from audit.battery import Battery
    from audit.battery.scorecard import scorecard
    from audit.extractors import models_here
    from reports import write_documents
    from reports.scorecard import headline, render_scorecard_html, render_scorecard_markdown

    setup_torch()
    interrupt_on_sigterm(ctx)
    with said_as_errors():
        chosen = Battery.load(battery)
        models, missing = models_here(chosen.models)
        if not models:
            raise RuntimeError("no face model could be loaded: " + "; ".join(missing.values()))
        plans = chosen.plans(cloaker, out, models, executor, command_line())
    for model, reason in missing.items():
        click.echo(f"warning: {model} is left out of the battery ({reason})", err=True)
    reports, runs = [], []
    for part, plan in plans:
        click.echo(f"{chosen.version}, part {part.name}: {len(plan.trackers)} trackers, "
                   f"{1 + len(plan.countermeasures)} countermeasures, leak ratios {list(chosen.leak_ratios)}")
        reports.append(run_plan(plan))
        runs.append(str(plan.out))
    card = scorecard(chosen.version, name or reports[0].cloaker.spec, reports, runs, list(missing), chosen.seeds[0],
                     command_line())
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
    from audit.records.files import read_scorecard
    from reports.leaderboard import render_leaderboard

    with said_as_errors():
        markdown, html = render_leaderboard([read_scorecard(path) for path in scorecards])
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
    with said_as_errors():  # RecordError: a document this version cannot read
        document = entry.report
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
