"""The run plan: one place for defaults, config merging, sweeps, and cell keys that change with what they cover."""

from pathlib import Path

import pytest

import audit.plan
from audit.plan import RunPlan, cell_key, defaults, merge_options, protocol_digest, sweep_values
from audit.protocol import Protocol, ProtocolOptions


def test_defaults_come_from_the_plan_and_protocol_fields():
    values = defaults()
    plan = RunPlan.from_values(values)
    assert plan.protocol == ProtocolOptions() and plan.trackers == RunPlan().trackers
    assert plan.scenarios() == [ProtocolOptions()]


def test_config_then_command_line_override_the_defaults(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[run]\ncloaker = {name = "noise", budget = "dssim:0.01"}\nseeds = [0, 1]\nleak-ratio = 0.2\n')
    values = merge_options({"leak_ratio": "0.3"}, config)
    plan = RunPlan.from_values(values)
    assert plan.cloaker == "noise:budget=dssim:0.01" and plan.seeds == (0, 1)
    assert [(s.seed, s.leak_ratio) for s in plan.scenarios()] == [(0, 0.3), (1, 0.3)]


@pytest.mark.parametrize("toml, message", [
    ('clocker = "none"', "unknown option 'clocker'"),
    ('detector = "2-means"', "now 'cloak_detector'"),
    ('cloaker = ["none", "noise"]', "one cloaker per run"),
    ("seed = [0, 0]", "appears twice"),
])
def test_bad_config_values_name_the_problem(tmp_path, toml, message):
    config = tmp_path / "run.toml"
    config.write_text(toml + "\n")
    with pytest.raises(ValueError, match=message):
        RunPlan.from_values(merge_options({}, config))


def test_sweep_values_parse_lists_and_all():
    assert sweep_values("0,1,2", "--seed", int) == (0, 1, 2)
    assert sweep_values([2, "all"], "--labels", int, allow_all=True) == (2, None)
    with pytest.raises(ValueError, match="'x' is not a int"):
        sweep_values("1,x", "--seed", int)


def test_a_seed_sweep_crosses_the_other_axes():
    plan = RunPlan(seeds=(0, 1), leak_ratios=(0.0, 0.5))
    assert [(s.seed, s.leak_ratio) for s in plan.scenarios()] == [(0, 0.0), (0, 0.5), (1, 0.0), (1, 0.5)]


def test_the_cell_key_changes_with_everything_that_determines_the_cell(tmp_path, monkeypatch):
    photo = tmp_path / "Ann" / "Ann_0001.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"x" * 10)
    protocol = Protocol(train={"Ann": [photo]}, test={"Ann": [photo]}, protected=["Ann"])
    scenario, plan = ProtocolOptions(), RunPlan()

    def key(**changes) -> str:
        arguments = {"photos": protocol_digest(protocol), "scenario": scenario, "plan": plan, "cloaker_id": "noise",
                     "countermeasure_id": "none", "tracker_id": "faiss:k=1"} | changes
        return cell_key(**arguments)

    base = key()
    assert key() == base and base.startswith("seed0-") and "faiss" in base
    variants = [key(scenario=ProtocolOptions(seed=1)), key(plan=RunPlan(rank=2)), key(cloaker_id="noise|r2"),
                key(countermeasure_id="blur:kernel=3"), key(tracker_id="faiss:k=2")]
    photo.write_bytes(b"x" * 11)  # the data set changed
    variants.append(key())
    monkeypatch.setattr(audit.plan, "code_digest", lambda: "other code")
    variants.append(key())
    assert len({base, *variants}) == len(variants) + 1
    assert all("/" not in k and ":" not in k for k in variants)


def test_the_code_digest_covers_the_computing_packages_only():
    root = Path(audit.plan.__file__).resolve().parents[1]
    assert set(audit.plan.COMPUTING_PACKAGES) <= {p.name for p in root.iterdir()}
    assert "reports" not in audit.plan.COMPUTING_PACKAGES


def test_the_command_line_takes_every_default_from_the_plans(tmp_path):
    from audit.cli import run, verify
    from audit.plan import verify_defaults

    given = {run: [], verify: ["--original", str(tmp_path), "--cloaked", str(tmp_path)]}
    for command, expected in ((run, defaults()), (verify, verify_defaults())):
        resolved = command.make_context(command.name, given[command]).params
        shared = [name for name in resolved if name in expected]
        assert len(shared) >= 6
        for name in shared:  # sweepable options are strings on the command line ("0,1,2")
            assert str(resolved[name]) == str(expected[name]), name
