"""A cloak's scorecard on a battery: its cost, and the headline the field needs, worst-case protection (the lowest
protection over every transfer tracker × countermeasure × leak ratio, as robust accuracy is for RobustBench),
with its interval and the cell that set it; white-box cells apart, never in the headline."""

from __future__ import annotations

from audit.environment import environment
from audit.options import parse_spec
from audit.records import RunReport, ScoreCard, ScoreCell
from audit.verdicts import protects_beyond_control


def score_cells(reports: list[RunReport]) -> tuple[ScoreCell, ...]:
    return tuple(ScoreCell(tracker=r.tracker, tracker_extractor=r.tracker_extractor, transfer=r.transfer,
                           countermeasure=r.countermeasure, leak_ratio=r.leak_ratio, protection=r.protection,
                           control=r.control, normal_accuracy=r.normal_accuracy)
                 for report in reports for r in report.results)


def worst(cells: list[ScoreCell]) -> ScoreCell | None:
    """The cell of lowest protection (of two equal, the one whose interval reaches lower); None without cells."""
    scored = [c for c in cells if c.protection.n_photos]
    return min(scored, key=lambda c: (c.protection.rate, c.protection.ci95[1]), default=None)


def tracker_model(cell: ScoreCell) -> str:
    """The model the cell's tracker was set up with: a copy robust retraining fine-tuned (a cached file) counts
    under the model it came from, so `by_model` has one row per model and no local path."""
    return str(parse_spec(cell.tracker).options.get("extractor") or cell.tracker_extractor or cell.tracker)


def lowest_by(cells: list[ScoreCell], key) -> dict[str, float]:
    found: dict[str, float] = {}
    for cell in cells:
        if cell.protection.n_photos:
            found[key(cell)] = min(found.get(key(cell), 1.0), cell.protection.rate)
    return found


def scorecard(battery: str, name: str, reports: list[RunReport], runs: list[str], models_missing: list[str],
              seed: int, command_line: str) -> ScoreCard:
    """The scorecard of one cloak from the reports of a battery's parts (each part cloaked the same photos)."""
    cells = score_cells(reports)
    transfer = [c for c in cells if c.transfer]
    aucs = [d.auc for report in reports for d in report.detection if d.auc is not None]
    return ScoreCard(
        battery=battery, name=name, cloaker=reports[0].cloaker, cost=reports[0].perturbation,
        worst_case=worst(transfer), worst_white_box=worst([c for c in cells if c.transfer is False]),
        by_model=lowest_by(transfer, tracker_model),
        by_countermeasure=lowest_by(transfer, lambda c: c.countermeasure),
        detectability=max(aucs) if aucs else None,
        normal_accuracy=min((c.normal_accuracy.rate for c in cells if c.normal_accuracy.n_photos), default=0.0),
        control=max((c.control.rate for c in cells if c.control.n_photos), default=0.0),
        models_missing=tuple(models_missing), cells=cells, runs=tuple(runs),
        environment=environment(seed, command_line))


def protected_cells(card: ScoreCard) -> tuple[int, int]:
    """(transfer cells that protect beyond the control, transfer cells scored): what orders equal headlines."""
    scored = [c for c in card.cells if c.transfer and c.protection.n_photos]
    return sum(protects_beyond_control(c.protection, c.control) for c in scored), len(scored)
