"""The README fits on a screen or two, and every link in it and in docs/ leads to a file of the repository (and
to a heading there, when it names one)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(markdown: Path) -> set[str]:
    """GitHub's anchor for each heading: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return found


def broken_links(markdown: Path) -> list[str]:
    broken = []
    for target in LINK.findall(markdown.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue  # a page outside the repository
        path, _, anchor = target.partition("#")
        file = (markdown.parent / path).resolve() if path else markdown
        if not file.is_relative_to(REPO) or not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    return broken


def test_the_readme_fits_on_two_screens_and_links_only_into_the_repository():
    readme = REPO / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 300
    assert LINK.findall(readme.read_text(encoding="utf-8")), "the README links to the docs"
    assert all(not re.match(r"[a-z]+://", target) for target in LINK.findall(readme.read_text(encoding="utf-8")))
    assert broken_links(readme) == []


def test_every_link_in_the_docs_resolves():
    pages = sorted((REPO / "docs").glob("*.md"))
    assert {p.name for p in pages} >= {"commands.md", "design.md", "plugins.md", "results.md", "benchmarks.md"}
    for page in pages:
        assert broken_links(page) == [], page.name


def test_a_broken_link_is_caught(tmp_path, monkeypatch):
    page = REPO / "docs" / "design.md"
    assert broken_links(page) == []
    fake = tmp_path / "page.md"
    fake.write_text("# Title\n[ok](#title) [gone](missing.md) [no heading](#nowhere) [web](https://example.org)\n")
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    assert broken_links(fake) == ["missing.md", "#nowhere"]
