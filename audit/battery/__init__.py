"""`audit bench`: one fixed, versioned battery of trackers, countermeasures and leaks run against any cloak, and
the scorecard the cloak earns; the scorecards of one battery version form a leaderboard.

A battery is data, one TOML file per version (`standard-v1.toml`, `quick-v1.toml` beside this module): the LFW
users and seeds, the trackers (on every model the machine has), the countermeasures and the leak ratios. Anything
that changes is a new version, so that two labs' scorecards of one version mean the same thing. Each part of a
battery is one `audit run` with its own cells and checkpoints, so a stopped bench resumes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from audit.plan import RunPlan

NAMES = ("standard", "quick")  # a battery asked for by name runs its newest version


@dataclass(frozen=True)
class BatteryPart:
    """One `audit run` of a battery: its trackers (each on every model), countermeasures and cloak detectors."""

    name: str
    trackers: tuple[str, ...]
    countermeasures: tuple[str, ...] = ()
    cloak_detectors: tuple[str, ...] = ()
    distractors: str | None = None


@dataclass(frozen=True)
class Battery:
    version: str
    description: str
    dataset: str
    users: int
    min_photos: int
    max_photos: int
    labels: int
    seeds: tuple[int, ...]
    leak_ratios: tuple[float, ...]
    models: tuple[str, ...]
    parts: tuple[BatteryPart, ...]

    @classmethod
    def load(cls, name: str) -> Battery:
        """`standard` or `quick` (the newest version of that name), a version (`standard-v1`), or a TOML file."""
        if Path(name).suffix == ".toml":
            try:
                text = Path(name).read_text(encoding="utf-8")
            except OSError as err:
                raise ValueError(f"battery {name}: {err.strerror or err}") from None
        else:
            shipped = sorted(f.name for f in resources.files("audit.battery").iterdir() if f.name.endswith(".toml"))
            wanted = [f for f in shipped if f.removesuffix(".toml") == name or f.startswith(f"{name}-v")]
            if not wanted:
                raise ValueError(f"no battery {name!r}; shipped: {', '.join(f.removesuffix('.toml') for f in shipped)}"
                                 " (or give a .toml file)")
            newest = max(wanted, key=lambda f: int(f.removesuffix(".toml").rpartition("-v")[2]))
            text = resources.files("audit.battery").joinpath(newest).read_text(encoding="utf-8")
        table = tomllib.loads(text)
        try:
            parts = tuple(BatteryPart(name=p["name"], trackers=tuple(p["trackers"]),
                                      countermeasures=tuple(p.get("countermeasures", ())),
                                      cloak_detectors=tuple(p.get("cloak_detectors", ())),
                                      distractors=p.get("distractors")) for p in table["parts"])
            return cls(version=table["battery"], description=table["description"], dataset=table["dataset"],
                       users=table["users"], min_photos=table["min_photos"], max_photos=table["max_photos"],
                       labels=table["labels"], seeds=tuple(table["seeds"]), leak_ratios=tuple(table["leak_ratios"]),
                       models=tuple(table["models"]), parts=parts)
        except KeyError as err:
            raise ValueError(f"battery {name}: no {err.args[0]!r}") from None

    def plans(self, cloaker: str, out: Path, models: list[str], executor: str = "local",
              command_line: str = "") -> list[tuple[BatteryPart, RunPlan]]:
        """Each part's run plan: its trackers on each of `models` (those this machine has), into `out/<part>`."""
        from trackers import build_tracker

        plans = []
        for part in self.parts:
            trackers = tuple(build_tracker(tracker).clone(extractor=model) for model in models
                             for tracker in part.trackers)
            plans.append((part, RunPlan(
                cloakers=cloaker, trackers=trackers, dataset=self.dataset, users=self.users,
                min_photos=self.min_photos, max_photos=self.max_photos, label_counts=(self.labels,),
                countermeasures=part.countermeasures, cloak_detectors=part.cloak_detectors, seeds=self.seeds,
                leak_ratios=self.leak_ratios, distractors=part.distractors, out=out / part.name, executor=executor,
                command_line=command_line)))
        return plans
