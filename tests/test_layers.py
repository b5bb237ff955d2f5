"""hmrec_cli's folders are layers, and imports run one way only. Every import counts, the lazy ones
inside functions too (the CLI defers its heavy imports that way, and a lazy import that runs back up
is still a dependency).

    cli/       the Typer app and commands      may import everything below it
    api.py     the Python API (a facade)       may import pipeline, toolkit, synth, data, top level; no Typer
    reports/   HTML report, plots              may import pipeline, toolkit, data, synth, top level
    pipeline/  recall, ranking, evaluation...  may import toolkit, data, top level
    toolkit/   what plugins build on           may import data, top level
    synth/     the synthetic world             may import data, top level
    data/      tables, store, weeks            may import the top level only
    top level  contract, cache, metrics...     no cycle with any folder (one node per module)

and no two modules import each other, directly or around a circle. The two facades, cli and api,
are for users: nothing in hmrec_cli imports them (api may not import cli either).

Nothing in hmrec_cli imports the plugins (hmrec_plugins): they are loaded through entry points.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hmrec_cli

CORE = Path(hmrec_cli.__file__).parent
LAYERS = ("cli", "reports", "pipeline", "toolkit", "synth", "data")
PLUGINS = "plugins"
API = "hmrec_cli.api"  # a top-level module, so its own layer
FORBIDDEN = {  # layer -> what it must not import
    API: {PLUGINS, "cli", "reports"},
    "pipeline": {PLUGINS, "cli", "reports"},
    "toolkit": {PLUGINS, "cli", "reports", "pipeline"},
    "synth": {PLUGINS, "cli", "reports", "pipeline", "toolkit"},
    "data": {PLUGINS, "cli", "reports", "pipeline", "toolkit", "synth"},
}


def module_name(path: Path) -> str:
    parts = ("hmrec_cli", *path.relative_to(CORE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def package_of(path: Path) -> str:
    return module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]


def imports_of(source: str, package: str) -> set[str]:
    """The hmrec_cli modules (and hmrec_plugins) a source in `package` imports anywhere in it,
    relative imports resolved; `from package import name` counts as the module `package.name`
    when there is one."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])]
                )
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {m for m in found if m.split(".")[0] in ("hmrec_cli", "hmrec_plugins")}


def layer(module: str) -> str:
    """The layer a module belongs to: its folder, the module itself at the top level, or plugins."""
    parts = module.split(".")
    if parts[0] == "hmrec_plugins":
        return PLUGINS
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS):
        return parts[1]
    return module


def problems(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a layer rule, and the cycles between layers."""
    found = []
    for module, targets in sorted(graph.items()):
        here = layer(module)
        for target in sorted(targets):
            there = layer(target)
            if (
                there in FORBIDDEN.get(here, ())
                or (there in ("cli", API) and here != there)
                or (there == PLUGINS and here != PLUGINS)
            ):
                found.append(f"{module} imports {target}: {here} must not import {there}")
    edges: dict[str, set[str]] = {}
    for module, targets in graph.items():
        edges.setdefault(layer(module), set()).update(layer(t) for t in targets if layer(t) != layer(module))
    return found + [f"import cycle between layers: {' -> '.join(c)}" for c in cycles(edges)]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per back edge met in a depth-first walk (none in an acyclic graph)."""
    found, state, path = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


GRAPH = {module: imports_of(path.read_text(), package_of(path)) - {module} for module, path in MODULES.items()}


def test_every_module_sits_in_a_layer_or_is_one_of_few_at_the_top() -> None:
    """At most 12 (the issue's bound): eleven core modules and `api`, the facade that a user imports by name
    (`from hmrec_cli import api`)."""
    top = [m for m in MODULES if m.count(".") == 1 and m.split(".")[1] not in LAYERS]
    assert len(top) <= 12, f"{len(top)} modules at the top of hmrec_cli (at most 12 besides __init__): {top}"
    assert {m.split(".")[1] for m in MODULES if m.count(".") > 1} <= set(LAYERS)


def test_the_imports_follow_the_layer_rules() -> None:
    found = problems(GRAPH)
    assert not found, "\n".join(found)


def test_no_import_cycle_between_modules_either() -> None:
    found = cycles({module: targets & set(MODULES) for module, targets in GRAPH.items()})
    assert not found, found


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    assert "hmrec_cli.pipeline.ranking" in GRAPH["hmrec_cli.cli.commands.rank"]  # imported inside the command
    assert "hmrec_cli.data.splits" in GRAPH["hmrec_cli.plugin_api"]
    source = "def f():\n    from hmrec_cli.data import splits\n    import hmrec_plugins.tdm\nfrom ..toolkit import fusion\nfrom . import x\n"
    assert imports_of(source, "hmrec_cli.pipeline") == {
        "hmrec_cli.data.splits",
        "hmrec_plugins.tdm",
        "hmrec_cli.toolkit.fusion",
        "hmrec_cli.pipeline",
    }


@pytest.mark.parametrize(
    ("module", "target", "complaint"),
    [
        ("hmrec_cli.pipeline.ranking", "hmrec_plugins.lgbm", "pipeline must not import plugins"),
        ("hmrec_cli.pipeline.ranking", "hmrec_cli.cli.commands.rank", "pipeline must not import cli"),
        ("hmrec_cli.toolkit.fusion", "hmrec_cli.pipeline.ranking", "toolkit must not import pipeline"),
        ("hmrec_cli.data.store", "hmrec_cli.toolkit.features", "data must not import toolkit"),
        ("hmrec_cli.data.splits", "hmrec_cli.reports.plots", "data must not import reports"),
        ("hmrec_cli.cache", "hmrec_cli.cli", "hmrec_cli.cache must not import cli"),
        ("hmrec_cli.console", "hmrec_cli.data.store", "import cycle between layers"),  # store imports console
        ("hmrec_cli.api", "hmrec_cli.cli.commands.rank", "hmrec_cli.api must not import cli"),
        ("hmrec_cli.api", "hmrec_cli.reports.plots", "hmrec_cli.api must not import reports"),
        ("hmrec_cli.pipeline.ranking", "hmrec_cli.api", "pipeline must not import hmrec_cli.api"),
        ("hmrec_cli.cli.commands.rank", "hmrec_cli.api", "cli must not import hmrec_cli.api"),
    ],
)
def test_a_violation_is_named(module: str, target: str, complaint: str) -> None:
    graph = {m: set(t) for m, t in GRAPH.items()}
    graph[module].add(target)
    assert any(complaint in p for p in problems(graph)), problems(graph)


def test_the_api_loads_no_typer_and_no_model_framework() -> None:
    """`from hmrec_cli import api` in a notebook: the pipeline's libraries only, not the CLI's
    (Typer) and not torch (imported when a plugin that uses it runs)."""
    import subprocess
    import sys

    script = "import sys; from hmrec_cli import api; print(sorted(m for m in ('typer', 'click', 'torch') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", loaded
