"""The architecture as tests: dependencies run one way (compiler ← runtime ← the CLI), no
import cycles among the project's modules, and no module, class or function too long to hold
in one's head (issue 13's acceptance).

Imports are read from the source with `ast`, at module level and inside functions alike: a
function-level import is deferred, not gone, and a cycle through one still ties the two
modules together. An import names its module only, not the packages above it (importing
`a.b.c` runs `a/__init__` first, but every submodule needs its parent package, so counting
that would make every package that imports its own submodules a cycle)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
# Each layer may import the ones before it, never those after (`python -m nncompile` last).
LAYERS = ("nncompile.compiler", "nncompile.runtime", "nncompile.cli", "nncompile.__main__")
MAX_MODULE_LINES, MAX_CLASS_LINES, MAX_FUNCTION_LINES = 450, 250, 80
EXEMPT = "# long:"  # `# long: <reason>` above a def or class (at column 0 for a module) allows it


def _modules() -> dict[str, Path]:
    """Every installed module of the project, dotted name -> file, from pyproject's package-dir."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    modules = {}
    for package, folder in config["tool"]["setuptools"]["package-dir"].items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project's modules that `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the module pkg.sub; `from pkg import name`, pkg itself
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
    return found & MODULES.keys()


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    graph.add_edges_from((name, imported) for name, path in MODULES.items() for imported in _imports(name, path))
    return graph


def _layer(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + "."))


def test_imports_are_resolved(tmp_path):
    """Relative, absolute, package and function-level imports each name the module they load."""
    module = tmp_path / "probe.py"
    module.write_text("import json\nimport nncompile.compiler.ops\nfrom ..compiler.ir import Graph\n"
                      "from .. import compiler\nfrom . import metrics\n\n"
                      "def f():\n    from .config import Loaded\n", encoding="utf-8")
    assert _imports("nncompile.runtime.probe", module) == {
        "nncompile.compiler.ops", "nncompile.compiler.ir", "nncompile.compiler", "nncompile.runtime.metrics",
        "nncompile.runtime.config"}
    assert {"nncompile.compiler", "nncompile.compiler.ops.conv", "nncompile.runtime.train"} <= MODULES.keys()
    assert all(module.startswith(LAYERS) for module in MODULES)


def test_dependencies_run_one_way():
    """The compiler never imports the runtime or the CLI; the runtime never imports the CLI."""
    backwards = sorted(f"{a} imports {b}" for a, b in _graph().edges if _layer(b) > _layer(a))
    assert not backwards, "\n".join(backwards)


def test_no_import_cycles():
    graph = _graph()
    cycles = []
    for tied in nx.strongly_connected_components(graph):
        if len(tied) > 1 or graph.has_edge(*tied, *tied):
            edges = nx.find_cycle(graph.subgraph(tied))
            cycles.append(" → ".join([*(a for a, _ in edges), edges[0][0]]) + f" ({len(tied)} modules tied)")
    assert not cycles, "\n".join(cycles)


def _exempt(lines: list[str], node) -> bool:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
    return first >= 2 and lines[first - 2].strip().startswith(EXEMPT)


def _too_long() -> dict[str, str]:
    """`path: kind name` -> what is too long, for every module, class and function over its limit."""
    found = {}
    for path in MODULES.values():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        where = path.relative_to(ROOT)
        if len(lines) > MAX_MODULE_LINES and not any(line.startswith(EXEMPT) for line in lines):
            found[f"{where}: module"] = f"{where}: module of {len(lines)} lines (limit {MAX_MODULE_LINES})"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                kind, limit = "class", MAX_CLASS_LINES
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind, limit = "function", MAX_FUNCTION_LINES
            else:
                continue
            length = node.end_lineno - node.lineno + 1
            if length > limit and not _exempt(lines, node):
                found[f"{where}: {kind} {node.name}"] = (f"{where}:{node.lineno}: {kind} {node.name} of {length} lines "
                                                         f"(limit {limit})")
    return found


def test_no_module_class_or_function_too_long():
    too_long = _too_long()
    assert not too_long, "\n".join(too_long.values())


def test_the_size_rule_sees_a_long_function(tmp_path, monkeypatch):
    module = tmp_path / "long.py"
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    module.write_text(f"def f():\n{body}\n\n# long: a table, one line an entry\ndef g():\n{body}", encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.MODULES", {"nncompile.compiler.long": module})
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert list(_too_long()) == ["long.py: function f"]
