"""Reports: how rates read and that every result reaches the files."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from audit.records import Skip, dumps, read_document
from reports import print_summary, render_run_markdown, write_reports
from reports.formatting import rate_text
from reports.plots import sweep_pngs
from reports.run import render_run_html
from tests.builders import cell, rate, run_report


def result(tracker: str, protection, control, **fields):
    return cell(tracker, protection, control, tracker_extractor=None, **fields)


def report(results, skipped=()):
    return run_report(results, skipped)


def test_rate_text_reads_as_percent_with_interval_and_na_for_missing():
    assert rate_text(rate(0.875, 0.801, 0.926)) == "87.5% [80.1, 92.6]"
    assert rate_text(rate(math.nan, math.nan, math.nan, 0)) == "n/a"


def test_every_result_user_and_skip_reaches_markdown_and_json(tmp_path):
    results = [result("faiss", rate(0.9, 0.7, 1.0), rate(0.0, 0.0, 0.1)),
               result("linear-probe", rate(0.1, 0.0, 0.3), rate(0.0, 0.0, 0.1))]
    skipped = [Skip(path="Bob/Bob_0001.jpg", stage="detect", reason="no face found")]
    json_path, md_path = write_reports(report(results, skipped), tmp_path / "out")
    markdown = md_path.read_text()
    assert "| `faiss` | ? | none | 90.0% [70.0, 100.0] | 0.0% [0.0, 10.0] |" in markdown
    assert "| `linear-probe` | ? | none | 10.0% [0.0, 30.0] |" in markdown
    assert markdown.count("Ada_Lovelace") == 2  # one per-user row per tracker
    assert "| `Bob/Bob_0001.jpg` | detect | no face found |" in markdown
    assert "PSNR mean n/a" in markdown
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<code>faiss</code>" in page and "90.0% [70.0, 100.0]" in page and "no face found" in page
    assert json.loads(json_path.read_text())["results"][1]["tracker"] == "linear-probe"


def test_swept_scenarios_get_their_own_columns_only_when_they_vary(tmp_path):
    leaky = [result("faiss", rate(0.9, 0.7, 1.0), rate(0.0, 0.0, 0.1), leak_ratio=leak) for leak in (0.0, 0.5)]
    markdown = render_run_markdown(report(leaky))
    assert "| tracker | tracker model | countermeasure | leak ratio | protection |" in markdown
    assert "| `faiss` | ? | none | 0.5 | 90.0% [70.0, 100.0] |" in markdown
    assert "labels |" not in markdown  # the label count did not vary
    assert "leak ratio |" not in render_run_markdown(report(leaky[:1]))


def test_sweeps_become_plots_linked_from_the_markdown(tmp_path):
    from PIL import Image

    swept = [result("faiss", rate(p, p - 0.1, p + 0.05), rate(0.0, 0.0, 0.1), leak_ratio=leak)
             for leak, p in ((0.0, 0.9), (0.5, 0.2))]
    blurred = [result("faiss", rate(0.5, 0.3, 0.7), rate(0.0, 0.0, 0.1), countermeasure=f"blur:kernel={k},sigma=1.0")
               for k in (3, 7)]
    _, md_path = write_reports(report(swept + blurred), tmp_path / "swept")
    markdown = md_path.read_text()
    for name in ("sweep-leak_ratio.png", "sweep-blur.png"):
        assert f"![{name}]({name})" in markdown
        with Image.open(tmp_path / "swept" / name) as image:
            assert image.format == "PNG" and image.size[0] > 500
    write_reports(report(swept[:1]), tmp_path / "single")
    assert not list((tmp_path / "single").glob("*.png"))  # nothing swept, nothing plotted


def test_console_summary_lists_each_tracker():
    console = Console(record=True, width=200)
    print_summary(report([result("faiss", rate(0.9, 0.7, 1.0), rate(0.0, 0.0, 0.1))]), console)
    text = console.export_text()
    assert "faiss" in text and "90.0% [70.0, 100.0]" in text and "protects" in text


def modelled(tracker: str, model: str, cloak_models: list[str], protection):
    return cell(tracker, protection, rate(0.0, 0.0, 0.1), tracker_extractor=model,
                cloak_extractors=tuple(cloak_models), transfer=model not in cloak_models)


def test_white_box_and_transfer_cells_are_told_apart_with_a_model_matrix(tmp_path):
    from reports.formatting import model_matrix, model_text

    results = [modelled("linear-probe", "dlib-resnet", ["dlib-resnet"], rate(0.95, 0.9, 1.0)),
               modelled("linear-probe:extractor=mobilefacenet", "mobilefacenet", ["dlib-resnet"], rate(0.1, 0.0, 0.2)),
               modelled("faiss:extractor=mobilefacenet", "mobilefacenet", ["dlib-resnet"], rate(0.2, 0.1, 0.3))]
    assert [model_text(r) for r in results] == ["dlib-resnet (white-box)", "mobilefacenet (transfer)",
                                                "mobilefacenet (transfer)"]
    rows, columns, cells = model_matrix(results)
    assert rows == ["dlib-resnet"] and columns == ["dlib-resnet", "mobilefacenet"]
    assert cells[("dlib-resnet", "mobilefacenet")] == ["linear-probe 10.0% [0.0, 20.0]", "faiss 20.0% [10.0, 30.0]"]
    assert cells[("dlib-resnet", "dlib-resnet")] == ["linear-probe 95.0% [90.0, 100.0] (white-box)"]
    assert model_matrix(results[:1]) is None  # one tracker model: nothing to cross
    markdown = render_run_markdown(report(results))
    assert "| `linear-probe` | dlib-resnet (white-box) |" in markdown and "## Cloak model × tracker model" in markdown
    page = render_run_html(report(results), [])
    assert '<span class="transfer">mobilefacenet (transfer)</span>' in page and "Cloak model × tracker model" in page
    old = result("faiss", rate(0.5, 0.4, 0.6), rate(0.0, 0.0, 0.1))  # a report from before models were named
    assert model_text(old) == "?" and model_matrix([old]) is None


def test_each_budget_of_a_sweep_is_named_wherever_its_results_are_shown():
    """18 verdict lines for 6 trackers at 3 budgets read as 6 trackers said three times unless each names its
    budget."""
    from reports.formatting import model_matrix

    results = [replace(modelled(tracker, model, ["dlib-resnet"], rate(value, 0.0, 1.0)), budget=budget)
               for budget, value in (("lpips:0.02", 0.1), ("lpips:0.04", 0.6))
               for tracker, model in (("faiss", "dlib-resnet"), ("faiss:extractor=faceres", "faceres"))]
    rows, columns, cells = model_matrix(results)
    assert cells[("dlib-resnet", "faceres")] == ["faiss, budget lpips:0.02 — 10.0% [0.0, 100.0]",
                                                 "faiss, budget lpips:0.04 — 60.0% [0.0, 100.0]"]
    page = render_run_html(report(results), [])
    for budget in ("lpips:0.02", "lpips:0.04"):
        assert page.count(f", budget {budget}, leak ratio") == 2  # one verdict line per tracker
        assert page.count(f"<td>{budget}</td>") == 2 + 2  # the results table and the per-user rows
    assert "<th>budget</th>" in page and "| budget |" in render_run_markdown(report(results))


DATA = Path(__file__).with_name("data")


def without_pngs(page: str) -> str:
    """The page with each embedded PNG's bytes left out (matplotlib versions differ in them, not in meaning)."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,…", page)


def test_a_version_1_report_renders_exactly_as_before_typed_records():
    """report_v1.json was written by main at 591de87 (a 2-seed, 2-leak-ratio sweep with detection, rank-k and
    detect-and-drop); report_v1.md and .html are main's renderings of it, kept byte for byte (but for the Markdown's
    "Swept:" line, which has named each scenario's seed since, and the HTML re-made once for the layout that fits
    many trackers (a short title, a Trackers table, tables that scroll inside the page), the one cost sentence
    every report shares, and each verdict line and per-user row naming its seed)."""
    report = read_document("run", json.loads((DATA / "report_v1.json").read_text()))
    sweeps = sweep_pngs(report)
    assert [axis for axis, _ in sweeps] == ["leak_ratio", "detect-and-drop", "jpeg"]
    plots = [f"sweep-{axis}.png" for axis, _ in sweeps]
    assert render_run_markdown(report, plots) == (DATA / "report_v1.md").read_text()
    assert without_pngs(render_run_html(report, sweeps)) == (DATA / "report_v1.html").read_text()
    again = read_document("run", json.loads(dumps(report)))  # through version 2's file and back: nothing lost
    assert dumps(again) == dumps(report) and again.schema_version == 2
