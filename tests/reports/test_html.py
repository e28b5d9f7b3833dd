"""The HTML reports of run, verify and compare open in headless Chromium: no errors, every image
loaded, nothing fetched from outside the file; a screenshot of each is taken."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from audit.cli import main
from audit.plan import VerifyPlan
from audit.verify import verify_person
from reports.console import print_summary
from reports.formatting import rate_text
from reports.run import render_run_html
from reports.verify import render_verify_html
from tests.builders import cell, run_report
from tests.conftest import REPO

# Runs before anything else on the page: records errors (capture phase, so failed image loads too)
# and, once loaded, which images failed and which resources came from outside the page.
CHECK = """<script>
window.__errors = [];
window.addEventListener('error', e => __errors.push(e.message || ('failed to load ' + (e.target.src || e.target.href))), true);
const original = console.error; console.error = (...a) => { __errors.push(a.join(' ')); original(...a); };
window.addEventListener('load', () => {
  const images = [...document.images];
  const report = {images: images.length, broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
                  errors: __errors, fetched: performance.getEntriesByType('resource').map(r => r.name)};
  document.body.insertAdjacentHTML('beforeend', '<pre id="audit-check">' + JSON.stringify(report) + '</pre>');
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Debian's chromium is needed for the HTML report test (.ci/run installs it: apt-get install chromium)")
    return found


def browse(page: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
               "--virtual-time-budget=5000", "--enable-logging=stderr", "--v=0", *arguments, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


# Measures the laid-out page: how wide it is against the window, how many lines the title takes, and
# which tables reach past the window's right edge without a scrolling box of their own.
LAYOUT = """<script>
window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth, title = document.querySelector('h1');
  const line = parseFloat(getComputedStyle(title).fontSize) * 1.4;
  const clipped = [...document.querySelectorAll('table')].filter(
    t => (t.closest('.wide') || t).getBoundingClientRect().right > width + 1).length;
  const report = {page: document.documentElement.scrollWidth, window: width, clipped: clipped,
                  title_lines: Math.round(title.getBoundingClientRect().height / line)};
  document.body.insertAdjacentHTML('beforeend', '<pre id="audit-check">' + JSON.stringify(report) + '</pre>');
});
</script>"""


def probe(html_file: Path, script: str = CHECK, *arguments: str) -> dict:
    """Load a copy with the check script at the top of its head; return what the script found."""
    copy = html_file.with_name("probe-" + html_file.name)
    copy.write_text(html_file.read_text().replace("<head>", "<head>" + script, 1))
    dumped = browse(copy, "--dump-dom", *arguments)
    found = re.findall(r'<pre id="audit-check">(\{.*?)</pre>', dumped.stdout, re.S)  # not the script's own text
    assert found, dumped.stderr[-2000:]
    return json.loads(found[-1].replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def take_screenshot(html_file: Path, screenshot: Path, size: str = "1200,2400") -> None:
    shot = browse(html_file, f"--screenshot={screenshot}", f"--window-size={size}")
    assert screenshot.is_file(), shot.stderr[-2000:]
    assert "CONSOLE" not in shot.stderr, shot.stderr  # no console message of any level
    pixels = np.asarray(Image.open(screenshot).convert("L"), float)
    assert pixels.std() > 10  # something was drawn, not a blank page


class References(HTMLParser):
    """Every URL the page names (src, href, CSS url())."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "srcset", "poster") and value]

    def handle_data(self, data: str) -> None:
        self.urls += re.findall(r"url\(([^)]*)\)", data)


def assert_self_contained(html_file: Path) -> None:
    parser = References()
    parser.feed(html_file.read_text())
    outside = [url for url in parser.urls if not url.startswith(("data:", "#"))]
    assert not outside, outside


def assert_opens_cleanly(html_file: Path, screenshot: Path, min_images: int) -> None:
    assert_self_contained(html_file)
    found = probe(html_file)
    assert found["errors"] == [] and found["broken"] == [] and found["fetched"] == [], found
    assert found["images"] >= min_images, found
    take_screenshot(html_file, screenshot)


@pytest.fixture(scope="module")
def run_folder(small_lfw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html-run")
    result = CliRunner().invoke(main, ["run", "--cloaker", "noise:budget=dssim:0.004", "--tracker", "faiss", "--dataset",
                                       str(small_lfw), "--users", "2", "--min-photos", "10", "--max-photos", "12",
                                       "--leak-ratio", "0,0.5", "--cloak-detector", "2-means", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_run_report_opens_in_chromium(run_folder, tmp_path):
    html_file = run_folder / "report.html"
    text = html_file.read_text()
    assert text.index('class="verdict') < text.index("<h2>Results</h2>")  # the verdict comes first
    for part in ("Sweeps", "Cloak detection", "Example photos", "Per user", "Command and environment"):
        assert f"<h2>{part}</h2>" in text or f"<h2>{part} (" in text, part
    # 3 examples × 3 images (2 users), a sweep plot, a ROC plot
    assert_opens_cleanly(html_file, tmp_path / "run.png", min_images=2 * 3 + 2)


def test_compare_and_verify_reports_open_in_chromium(run_folder, small_lfw, tmp_path):
    out = tmp_path / "compare"
    result = CliRunner().invoke(main, ["compare", str(run_folder), str(run_folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert_opens_cleanly(out / "compare.html", tmp_path / "compare.png", min_images=1)

    originals, posted = tmp_path / "me", tmp_path / "posted"
    identity = sorted(small_lfw.iterdir())[0]
    originals.mkdir()
    posted.mkdir()
    for photo in sorted(identity.glob("*.jpg"))[:6]:
        shutil.copyfile(photo, originals / photo.name)
        Image.open(photo).rotate(0.5).save(posted / f"{photo.stem}.png")  # visibly not the original
    record = verify_person(VerifyPlan(originals=originals, cloaked=posted, out=tmp_path / "verify", trackers=("faiss",),
                                      crowd=str(small_lfw), crowd_min_photos=10, crowd_max_photos=12))
    html_file = tmp_path / "verify.html"
    html_file.write_text(render_verify_html(record))
    assert_opens_cleanly(html_file, tmp_path / "verify.png", min_images=9)


def test_the_shipped_leaderboard_opens_in_chromium_and_matches_the_readme(tmp_path):
    """docs/leaderboard.html (the standard-v1 baseline) is self-contained, opens without errors, and ranks the
    same cloaks with the same figures as the README's table, so the two cannot drift apart."""
    shipped = tmp_path / "leaderboard.html"
    shutil.copy(REPO / "docs" / "leaderboard.html", shipped)  # the probe writes a copy beside the page
    assert_opens_cleanly(shipped, tmp_path / "leaderboard.png", min_images=0)
    page_rows = [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td>(.*?)</td>", row)]
                 for row in re.findall(r"<tr>(.*?)</tr>", shipped.read_text(), re.S)]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    readme_rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in readme.splitlines()
                   if re.match(r"\| \d+ \|", line)]
    assert len(readme_rows) == 7 and [row for row in page_rows if row] == readme_rows


def test_the_check_can_fail(tmp_path):
    """A page with a missing image and a script error is caught: the browser check is not vacuous."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><title>x</title></head><body><h1>broken</h1>'
                    '<img src="missing.png" alt="missing"><script>undefinedFunction()</script></body></html>')
    found = probe(page)
    assert found["broken"] == ["missing"] and any("undefinedFunction" in e for e in found["errors"])
    with pytest.raises(AssertionError):
        assert_self_contained(page)


MANY_TRACKERS = [f"{kind}:extractor={model}" for model in ("dlib-resnet", "mobilefacenet", "faceres",
                                                           "[onnx:/srv/models/insightface/buffalo_l/w600k_r50.onnx]")
                 for kind in ("faiss", "linear-probe")]


def many_tracker_report():
    models = {spec: spec.partition("=")[2].strip("[]").replace("onnx:", "onnx:path=") for spec in MANY_TRACKERS}
    results = [cell(spec, tracker_extractor=models[spec], transfer=True) for spec in MANY_TRACKERS]
    return run_report(results)


def test_a_run_with_eight_trackers_fits_a_1280_px_window(tmp_path):
    report = many_tracker_report()
    html_file = tmp_path / "report.html"
    html_file.write_text(render_run_html(report, []))
    text = html_file.read_text()
    assert "<h1>cloak-audit: fawkes against 8 trackers</h1>" in text
    for spec in MANY_TRACKERS:  # every full spec is one click away, in the Trackers table
        assert text.count(html.escape(spec)) == 1, spec
    assert 'linear-probe · w600k_r50.onnx' in text
    layout = probe(html_file, LAYOUT, "--window-size=1280,900")
    assert layout["page"] <= layout["window"] and layout["clipped"] == 0, layout
    assert layout["title_lines"] == 1, layout
    take_screenshot(html_file, tmp_path / "eight-trackers.png", "1280,2000")


def test_the_console_table_in_a_log_file_keeps_every_cell_whole(capsys):
    report = many_tracker_report()
    print_summary(report)  # captured: not a terminal, as when written to a log file
    out = capsys.readouterr().out
    assert "…" not in out
    rows = [line for line in out.splitlines() if "%" in line]
    assert len(rows) == len(MANY_TRACKERS)  # one line per result: nothing wrapped
    for row, spec in zip(rows, MANY_TRACKERS):
        tracker, model = spec.split(":")[0], Path(spec.partition("=")[2].strip("[]")).name
        assert f"{tracker} · {model}" in row and rate_text(report.results[0].protection) in row


# The rendered width of the protection–cost figure, and how many photos show the budgets.
CURVE_PROBE = """<script>
window.addEventListener('load', () => {
  const figure = [...document.images].find(i => i.alt.startsWith('protection and control against'));
  const report = {curve_width: figure ? figure.getBoundingClientRect().width : 0,
                  curve_natural: figure ? figure.naturalWidth : 0,
                  budget_photos: document.querySelectorAll('.budgets img').length};
  document.body.insertAdjacentHTML('beforeend', '<pre id="audit-check">' + JSON.stringify(report) + '</pre>');
});
</script>"""


def test_a_budget_sweep_reports_protection_against_measured_cost(small_lfw, tmp_path):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["run", "--cloaker", "noise:budget=lpips:0.01,0.03", "--tracker", "faiss",
                                       "--dataset", str(small_lfw), "--users", "2", "--min-photos", "10",
                                       "--max-photos", "12", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert [r["budget"] for r in report["results"]] == ["lpips:0.01", "lpips:0.03"]
    # the cloaker is the whole sweep, not whichever budget ran last
    assert report["cloaker"]["spec"] == "noise:budget=lpips:0.01,0.03"
    assert report["cloaker"]["params"]["budget"] == "lpips:0.01, lpips:0.03"
    budgets = {b["budget"]: b["perturbation"] for b in report["budgets"]}
    for name, limit in (("lpips:0.01", 0.01), ("lpips:0.03", 0.03)):  # every copy within its budget, near it
        assert 0.8 * limit <= budgets[name]["lpips_mean"] <= budgets[name]["lpips_max"] <= limit
    [curve] = report["curves"]
    assert [p["budget"] for p in curve["points"]] == ["lpips:0.01", "lpips:0.03"]
    assert [p["lpips"] for p in curve["points"]] == [budgets[n]["lpips_mean"] for n in ("lpips:0.01", "lpips:0.03")]
    assert "## Protection against visibility" in (out / "report.md").read_text()
    assert (out / "sweep-budget.png").is_file()
    assert_opens_cleanly(out / "report.html", tmp_path / "sweep.png", min_images=1 + 3)
    shown = probe(out / "report.html", CURVE_PROBE, "--window-size=1280,900")
    assert shown["curve_width"] >= 800 and shown["curve_width"] == shown["curve_natural"], shown  # not shrunk
    assert shown["budget_photos"] == 3, shown  # the original and its copy at each budget
