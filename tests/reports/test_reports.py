"""Reports: how rates read and that every result reaches the files."""

from __future__ import annotations

import json
import math

from rich.console import Console

from reports import print_summary, render_markdown, write_reports
from reports.formatting import rate_text


def rate(value: float, low: float, high: float, n: int = 20) -> dict:
    return {"rate": value, "ci95": [low, high], "n_photos": n, "n_users": 5}


def result(tracker: str, protection: dict, control: dict) -> dict:
    return {"tracker": tracker, "countermeasure": "none", "leak_ratio": 0.0, "n_labels": 60,
            "protection": protection, "control": control,
            "normal_accuracy": rate(0.99, 0.97, 1.0, 400), "rank_k": None,
            "per_user": [{"user": "Ada_Lovelace", "n_test": 4, "protection": 0.75, "control": 0.0}]}


def report(results: list[dict], skipped: list[dict] | None = None) -> dict:
    return {
        "cloaker": {"name": "fawkes", "implementation": "built-in", "params": {"mode": "high"}},
        "perturbation": {"n_photos": 3, "dssim_mean": 0.005, "dssim_max": 0.01, "psnr_mean": None,
                         "l2_mean": 1.5, "linf_max": 12, "seconds_per_photo": 0.3},
        "protocol": {"dataset": "lfw", "seed": 0, "users": ["Ada_Lovelace"], "isolation": "per-user",
                     "n_labels": 60, "n_train_photos": 900, "n_test_photos": 400, "leak_ratio": 0.0},
        "results": results,
        "skipped": skipped or [],
    }


def test_rate_text_reads_as_percent_with_interval_and_na_for_missing():
    assert rate_text(rate(0.875, 0.801, 0.926)) == "87.5% [80.1, 92.6]"
    assert rate_text(rate(math.nan, math.nan, math.nan, 0)) == "n/a"


def test_every_result_user_and_skip_reaches_markdown_and_json(tmp_path):
    results = [result("faiss", rate(0.9, 0.7, 1.0), rate(0.0, 0.0, 0.1)),
               result("linear-probe", rate(0.1, 0.0, 0.3), rate(0.0, 0.0, 0.1))]
    skipped = [{"path": "Bob/Bob_0001.jpg", "stage": "detect", "reason": "no face found"}]
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
    leaky = [dict(result("faiss", rate(0.9, 0.7, 1.0), rate(0.0, 0.0, 0.1)), leak_ratio=leak, n_labels=60)
             for leak in (0.0, 0.5)]
    markdown = render_markdown(report(leaky))
    assert "| tracker | tracker model | countermeasure | leak ratio | protection |" in markdown
    assert "| `faiss` | ? | none | 0.5 | 90.0% [70.0, 100.0] |" in markdown
    assert "labels |" not in markdown  # the label count did not vary
    assert "leak ratio |" not in render_markdown(report(leaky[:1]))


def test_sweeps_become_plots_linked_from_the_markdown(tmp_path):
    from PIL import Image

    swept = [dict(result("faiss", rate(p, p - 0.1, p + 0.05), rate(0.0, 0.0, 0.1)), leak_ratio=leak, n_labels=60)
             for leak, p in ((0.0, 0.9), (0.5, 0.2))]
    blurred = [dict(result("faiss", rate(0.5, 0.3, 0.7), rate(0.0, 0.0, 0.1)), leak_ratio=0.0, n_labels=60,
                    countermeasure=f"blur:kernel={k},sigma=1.0") for k in (3, 7)]
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


def modelled(tracker: str, model: str, cloak_models: list[str], protection: dict) -> dict:
    return {**result(tracker, protection, rate(0.0, 0.0, 0.1)), "tracker_extractor": model,
            "cloak_extractors": cloak_models, "transfer": model not in cloak_models}


def test_white_box_and_transfer_cells_are_told_apart_with_a_model_matrix(tmp_path):
    from reports.formatting import model_matrix, model_text
    from reports.html import render_run_html

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
    markdown = render_markdown(report(results))
    assert "| `linear-probe` | dlib-resnet (white-box) |" in markdown and "## Cloak model × tracker model" in markdown
    page = render_run_html(report(results), [])
    assert '<span class="transfer">mobilefacenet (transfer)</span>' in page and "Cloak model × tracker model" in page
    old = result("faiss", rate(0.5, 0.4, 0.6), rate(0.0, 0.0, 0.1))  # a report from before models were named
    assert model_text(old) == "?" and model_matrix([old]) is None
