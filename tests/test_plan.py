"""The run and verify plans: one table of options each, the defaults, TOML keys and command-line options derived
from it, every value parsed once into what the plan holds."""

import dataclasses
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from audit.cli import main, plan_options_of
from audit.cloakers import Cloaker
from audit.cloakers.budget import Budget
from audit.plan import RunPlan, VerifyPlan, defaults, integer, merge_options, option, plan_options, sweep_values, text
from audit.protocol import ProtocolOptions
from trackers import Tracker


def test_defaults_come_from_the_table_and_parse_into_objects():
    plan = RunPlan.from_values(defaults(RunPlan))
    assert plan.protocol == ProtocolOptions() and plan.scenarios() == [ProtocolOptions()]
    assert [c.spec for c in plan.cloakers] == ["fawkes"] and [t.spec for t in plan.trackers] == ["faiss"]
    assert isinstance(plan.cloakers[0], Cloaker) and isinstance(plan.trackers[0], Tracker)
    assert plan.out == Path("audit-report") and plan.executor.spec == "local" and plan.budgets is None
    assert [t.spec for t in RunPlan().trackers] == ["faiss"]  # a plan made in Python parses the same defaults


def test_config_then_command_line_override_the_defaults(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[run]\ncloaker = {name = "noise", budget = "dssim:0.01"}\nseeds = [0, 1]\nleak-ratio = 0.2\n'
                      'trackers = ["faiss:k=3", {name = "linear-probe", head = "softmax"}]\n')
    plan = RunPlan.from_values(merge_options(RunPlan, {"leak_ratio": "0.3"}, config))
    assert [c.spec for c in plan.cloakers] == ["noise:budget=dssim:0.01"] and plan.seeds == (0, 1)
    assert [t.spec for t in plan.trackers] == ["faiss:k=3", "linear-probe:head=softmax"]
    assert [(s.seed, s.leak_ratio) for s in plan.scenarios()] == [(0, 0.3), (1, 0.3)]


@pytest.mark.parametrize("toml, message", [
    ('clocker = "none"', "unknown option 'clocker'"),
    ('detector = "2-means"', "'detector' is now 'cloak_detector'"),
    ('detectors = ["2-means"]', "'detectors' is now 'cloak_detector'"),
    ('cloaker = ["none", "noise"]', "one cloaker per run"),
    ("seed = [0, 0]", "appears twice"),
    ('cloaker = "fawkes:mode=low,high"', "sweeps only its budget, not mode"),
    ("users = 0", "--users must be at least 1"),
    ('isolation = "alone"', "--isolation 'alone'; choose per-user, cohort"),
])
def test_bad_config_values_name_the_problem(tmp_path, toml, message):
    config = tmp_path / "run.toml"
    config.write_text(toml + "\n")
    with pytest.raises(ValueError, match=message):
        RunPlan.from_values(merge_options(RunPlan, {}, config))


def test_sweep_values_parse_lists_and_all():
    assert sweep_values("0,1,2", "--seed", int) == (0, 1, 2)
    assert sweep_values([2, "all"], "--labels", int, allow_all=True) == (2, None)
    with pytest.raises(ValueError, match="'x' is not a int"):
        sweep_values("1,x", "--seed", int)


def test_a_seed_sweep_crosses_the_other_axes():
    plan = RunPlan(seeds=(0, 1), leak_ratios="0,0.5")
    assert [(s.seed, s.leak_ratio) for s in plan.scenarios()] == [(0, 0.0), (0, 0.5), (1, 0.0), (1, 0.5)]


def test_a_budget_sweep_is_an_axis_of_cloakers():
    plan = RunPlan(cloakers="fawkes:mode=high,budget=lpips:0.02,0.04,dssim:0.01")
    assert plan.budgets == (Budget("lpips", 0.02), Budget("lpips", 0.04), Budget("dssim", 0.01))
    assert [c.spec for c in plan.cloakers] == [f"fawkes:mode=high,budget={b}" for b in plan.budgets]
    with pytest.raises(ValueError, match="names no metric"):
        RunPlan(cloakers="fawkes:budget=0.02,0.04")


def test_a_plan_keeps_the_plugins_it_was_given_and_parses_again_to_the_same():
    plan = RunPlan(trackers=("faiss:k=2",), countermeasures=("jpeg:quality=10,30",))
    again = dataclasses.replace(plan, rank=3)  # a plan remade from a plan: its plugins are kept, not re-parsed
    assert again.trackers[0] is plan.trackers[0] and again.countermeasures == plan.countermeasures
    assert again.rank == 3 and [c.spec for c in again.countermeasures] == ["jpeg:quality=10", "jpeg:quality=30"]


def test_the_command_line_takes_every_option_from_the_tables(tmp_path):
    given = {"run": [], "verify": ["--original", str(tmp_path), "--cloaked", str(tmp_path)]}
    for name, plan in (("run", RunPlan), ("verify", VerifyPlan)):
        command = main.commands[name]
        resolved = command.make_context(name, given[name]).params
        flags = {p.name: p for p in command.params}
        for spec in plan_options(plan).values():
            assert flags[spec.key].opts == [spec.flag] and flags[spec.key].help == spec.help, spec.key
            if not spec.required and spec.default not in (None, ()):
                assert str(resolved[spec.key]) == str(spec.default), spec.key


@dataclasses.dataclass(frozen=True, kw_only=True)
class WithPatience(RunPlan):
    """A run plan with one more option: the whole of what a new option takes (docs/plugins.md shows it)."""

    patience: int = option("patience", 3, "Rounds a tracker waits before it gives up.", integer, minimum=1)


def test_a_new_option_is_one_entry_in_the_table(tmp_path):
    assert defaults(WithPatience)["patience"] == 3
    config = tmp_path / "run.toml"
    config.write_text("patience = 5\n")
    assert WithPatience.from_values(merge_options(WithPatience, {}, config)).patience == 5

    @click.command()
    @plan_options_of(WithPatience)
    def command(**values):
        click.echo(WithPatience.from_values(values).patience)

    assert CliRunner().invoke(command, ["--patience", "7"]).output == "7\n"
    assert "Rounds a tracker waits" in CliRunner().invoke(command, ["--help"]).output
    with pytest.raises(ValueError, match="--patience must be at least 1"):
        WithPatience(patience=0)


def test_verify_needs_the_persons_folders():
    assert "original" not in defaults(VerifyPlan) and text("per-user", plan_options(RunPlan)["isolation"]) == "per-user"
    with pytest.raises(TypeError, match="originals"):
        VerifyPlan(cloaked=Path("."))


def test_the_train_fraction_reaches_every_scenario():
    resolved = main.commands["run"].make_context("run", ["--train-fraction", "0.5", "--seed", "0,1"]).params
    plan = RunPlan.from_values(merge_options(RunPlan, {key: resolved[key] for key in ("train_fraction", "seed")}))
    assert {s.train_fraction for s in plan.scenarios()} == {0.5} and len(plan.scenarios()) == 2
    with pytest.raises(ValueError, match="train fraction must lie in"):
        RunPlan(train_fraction=1.5)
