"""The package's layers only point down (docs/architecture.md), its modules stay small, and the
README's layout tree names every module that exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "cjworkbench"

# Bottom to top: a module may import from its own layer or any layer below it, never above.
LAYERS = [
    ("foundation", ["errors", "version", "contract", "periods", "privacy", "deprecation", "parameters",
                    "formats"]),
    ("model", ["config", "model", "full_build", "roles", "sessions", "db", "backends", "cache", "designs", "redact", "ingest", "identity", "export",
               "demo"]),
    ("scope", ["scope", "units"]),
    ("analysis", ["analysis"]),
    ("views", ["charts", "display", "narrative"]),
    ("faces", ["controls", "reports", "dashboards", "kernels", "serving", "landing", "lab"]),
    ("entry", ["cli", "__init__", "__main__"]),
]
MAX_LINES = 320   # "around 300 lines or less" (house style)


def _module(path: Path) -> str:
    parts = path.relative_to(PKG).with_suffix("").parts
    return ".".join(parts)


def layer_of(module: str) -> int:
    head = module.split(".")[0]
    for i, (_, names) in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"cjworkbench.{module} is in no layer: add it to LAYERS and docs/architecture.md")


def _imports(path: Path) -> set[str]:
    """cjworkbench modules imported anywhere in the file (lazy imports inside functions included)."""
    own = _module(path).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    if path.name == "__init__.py":
        package = own[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "cjworkbench":
                target = node.module.split(".")[1:]
            else:
                continue
            if not target:   # `from . import x` in the package root
                target = [node.names[0].name]
            found.add(".".join(target))
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("cjworkbench.")}
    return found


SOURCES = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_only_point_down(path):
    here = _module(path)
    if here == "__init__":
        return
    mine = layer_of(here)
    upward = sorted(m for m in _imports(path) if layer_of(m) > mine)
    assert not upward, (f"cjworkbench.{here} ({LAYERS[mine][0]}) imports from a higher layer: "
                        + ", ".join(f"{m} ({LAYERS[layer_of(m)][0]})" for m in upward))


def test_charts_take_tables_not_analyses():
    """A chart is a pure function of a table: charts never import an analysis."""
    for path in (PKG / "charts").rglob("*.py"):
        assert not [m for m in _imports(path) if m.startswith("analysis")], path


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PKG)))
def test_modules_stay_small(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines; split it by concept (house style: ~300)"


def test_readme_layout_names_every_module():
    """The README's layout tree lists every package module and folder, and nothing that is gone."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    tree = text.split("## Layout", 1)[1].split("```", 2)[1]
    listed = set(re.findall(r"([\w/]+\.py|[\w]+/)", tree))
    names = {p.name for p in SOURCES if p.name != "__init__.py" and p.parent.name != "demo"}
    folders = {p.parent.name + "/" for p in SOURCES if p.parent != PKG}
    missing = sorted((names | folders) - {Path(x).name if x.endswith(".py") else x.split("/")[-2] + "/" for x in listed})
    assert not missing, f"README layout tree misses: {', '.join(missing)}"
    stale = sorted(x for x in listed if x.endswith(".py") and x.startswith("cjworkbench/") and not (ROOT / x).is_file())
    assert not stale, f"README layout tree names modules that do not exist: {stale}"


def test_architecture_doc_names_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    absent = sorted(_module(p) for p in SOURCES if p.name != "__init__.py"
                    and not p.parts[-2] == "demo" and f"`cjworkbench.{_module(p)}`" not in doc)
    assert not absent, f"docs/architecture.md has no line for: {', '.join(absent)}"
