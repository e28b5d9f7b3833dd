"""The layers of docs/design.md, kept: each module's imports, read from its source (an AST walk, at any depth,
function-level imports included; `if TYPE_CHECKING:` blocks aside, as they never run), run only to its own floor or
below, and form no cycle.

An edge goes to the module an import names (`from audit.cloakers.base import Cloaker` → audit.cloakers.base; a
name that is itself a module → that module), not to its parent packages: a package's `__init__` re-exporting its
submodules is how Python packages are built, not a circle between the modules' code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("audit", "trackers", "countermeasures", "reports", "cloud_clients")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement outside `if TYPE_CHECKING:` blocks."""
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module → the project modules it imports."""
    files = {module_name(p, root): p for package in packages for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
                continue
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names}
        graph[module] = {t for t in targets if t in files and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module (Tarjan), as a sorted list."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph(REPO, PACKAGES)
    assert len(graph) > 100  # the whole project was read
    assert cycles(graph) == []


def test_a_planted_cycle_is_found(tmp_path):
    package = tmp_path / "planted"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("from planted.a import A\n")
    (package / "a.py").write_text("from planted.inner import b\nA = 1\n")
    (package / "inner" / "__init__.py").write_text("")
    (package / "inner" / "b.py").write_text("def late():\n    from ..c import C\n    return C\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from planted.a import A\n")
    graph = import_graph(tmp_path, ("planted",))
    assert cycles(graph) == []  # a TYPE_CHECKING import never runs
    (package / "c.py").write_text("import planted.a\nC = 2\n")
    assert cycles(import_graph(tmp_path, ("planted",))) == [["planted.a", "planted.c", "planted.inner.b"]]


def read_layers(design: str) -> list[tuple[str, list[str]]]:
    """The ```layers block of a design document: (floor, its module patterns), top floor first."""
    block = re.search(r"^```layers\n(.*?)^```", design, re.M | re.S)
    assert block, "the design document has no ```layers block"
    floors: list[tuple[str, list[str]]] = []
    for line in filter(str.strip, block.group(1).splitlines()):
        if line[0].isspace():  # continues the floor above
            floors[-1][1].extend(m.strip() for m in line.split(",") if m.strip())
            continue
        name, _, modules = line.partition(":")
        floors.append((name.strip(), [m.strip() for m in modules.split(",") if m.strip()]))
    return floors


def floor_of(module: str, layers: list[tuple[str, list[str]]]) -> int | None:
    """The floor (0 = the bottom) whose pattern places `module`: `pkg.*` is the package and all in it, a bare name
    one module; the most specific pattern wins, so a module can sit on another floor than its package."""
    best, floor = -1, None
    for height, (_, patterns) in enumerate(reversed(layers)):
        for pattern in patterns:
            package = pattern.removesuffix(".*")
            covers = module == package or (pattern.endswith(".*") and module.startswith(package + "."))
            if covers and len(package) > best:
                best, floor = len(package), height
    return floor


def upward_imports(graph: dict[str, set[str]], layers: list[tuple[str, list[str]]]) -> list[str]:
    """Each import that runs from a floor to a higher one, and each module no floor places, as a sentence."""
    names = [name for name, _ in reversed(layers)]
    found = []
    for module in sorted(graph):
        floor = floor_of(module, layers)
        if floor is None:
            found.append(f"{module} is on no floor: place it in docs/design.md's layers")
            continue
        for target in sorted(graph[module]):
            above = floor_of(target, layers)
            if above is not None and above > floor:
                found.append(f"{module} ({names[floor]}) imports {target} ({names[above]}), a floor above it")
    return found


def test_every_import_runs_down_the_layers_of_the_design():
    layers = read_layers((REPO / "docs" / "design.md").read_text(encoding="utf-8"))
    assert upward_imports(import_graph(REPO, PACKAGES), layers) == []


def test_a_planted_upward_import_is_found(tmp_path):
    layers = read_layers("```layers\ntop: planted.cli\nmiddle: planted.work.*\nbottom: planted, planted.base\n```\n")
    package = tmp_path / "planted"
    (package / "work").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("from planted.work.job import run\n")
    (package / "work" / "__init__.py").write_text("")
    (package / "work" / "job.py").write_text("from planted import base\n\ndef run():\n    return base\n")
    (package / "base.py").write_text("X = 1\n")
    assert upward_imports(import_graph(tmp_path, ("planted",)), layers) == []
    (package / "base.py").write_text("def late():\n    from planted.work import job\n    return job\n")
    assert upward_imports(import_graph(tmp_path, ("planted",)), layers) == [
        "planted.base (bottom) imports planted.work.job (middle), a floor above it"]
    (package / "stray.py").write_text("")
    assert "planted.stray is on no floor: place it in docs/design.md's layers" in \
        upward_imports(import_graph(tmp_path, ("planted",)), layers)


@pytest.mark.parametrize("module, floor", [("audit.face.cache", "face"), ("audit.cli", "command line"),
                                           ("audit", "foundation"), ("reports.html", "reports")])
def test_the_most_specific_pattern_places_a_module(module, floor):
    layers = read_layers((REPO / "docs" / "design.md").read_text(encoding="utf-8"))
    assert [name for name, _ in reversed(layers)][floor_of(module, layers)] == floor
