"""docs/options.md and `audit list KIND --options` say what the constructors and the plans' tables declare."""

from click.testing import CliRunner

from audit.cli import main
from audit.plan import RunPlan, VerifyPlan, plan_options
from audit.plugins import KINDS, constructor_parameters, describe_options, options_help, registered
from reports.options import options_reference
from tests.conftest import REPO


def test_the_options_reference_matches_the_constructors_and_the_tables():
    shipped = (REPO / "docs" / "options.md").read_text(encoding="utf-8")
    assert shipped == options_reference(), "docs/options.md is stale: regenerate it with `python -m reports.options`"
    for plan in (RunPlan, VerifyPlan):
        assert all(f"`{spec.flag}`" in shipped for spec in plan_options(plan).values())


def test_every_built_in_option_has_exactly_its_help():
    for kind in KINDS:
        for name, cls in registered(kind).items():
            options, helps = set(constructor_parameters(cls)), set(options_help(cls))
            assert options <= helps, f"{name}: no help line for {sorted(options - helps)}"
            assert all(o.help for o in describe_options(cls)), name


def test_audit_list_prints_each_option_with_its_default_and_help():
    listed = CliRunner().invoke(main, ["list", "countermeasures", "--options"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    blur = lines.index(next(line for line in lines if line.startswith("blur ")))
    assert lines[blur + 1].strip().startswith("kernel=5  (int)  the window's side in pixels, odd")
    assert "    at=train  (str)  the photos it transforms" in listed.output
    plain = CliRunner().invoke(main, ["list", "countermeasures"]).output
    assert "kernel=" not in plain and "blur" in plain
