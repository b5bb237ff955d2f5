"""`hmrec_cli.plugin` is the one module a plugin author imports: it must hold what the built-in
plugins use, hand out the very objects of their home modules, load torch only when a torch piece
is asked for, and match the list in docs/plugin-contract.md and the example plugin."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hmrec_cli.plugin as facade

ROOT = Path(__file__).resolve().parents[1]


def imported_names(path: Path) -> set[tuple[str, str]]:
    """(module, name) of every `from hmrec_cli... import name` in a source, lazy imports too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("hmrec_cli"):
            found |= {(node.module, a.name) for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {(a.name, "") for a in node.names if a.name.startswith("hmrec_cli")}
    return found


@pytest.mark.parametrize("name", facade.__all__)
def test_each_name_is_its_home_modules_object(name: str) -> None:
    home = importlib.import_module(facade.HOME[name])
    assert getattr(facade, name) is (home if name in facade.MODULES else getattr(home, name))


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(AttributeError, match="no attribute 'ranking'"):
        facade.ranking  # noqa: B018
    with pytest.raises(ImportError):
        exec("from hmrec_cli.plugin import Store", {})


def test_every_name_a_built_in_plugin_imports_is_offered() -> None:
    """A built-in may import the toolkit directly; whatever it takes, a third-party author can take
    from the facade too."""
    used = {pair for path in (ROOT / "plugins").rglob("*.py") for pair in imported_names(path)}
    missing = sorted(
        f"{module}.{name}" for module, name in used if name not in facade.HOME and module != "hmrec_cli.plugin"
    )
    assert not missing, f"add to hmrec_cli/plugin.py: {missing}"
    assert all(facade.HOME[name] == module for module, name in used if module not in ("hmrec_cli", "hmrec_cli.plugin"))


def test_the_contract_alone_loads_no_model_framework() -> None:
    code = (
        "import sys\nfrom hmrec_cli.plugin import Context, Retriever, RunSettings, console, fill_cold\n"
        "loaded = [m for m in ('torch', 'implicit', 'annoy', 'lightgbm') if m in sys.modules]\nassert not loaded, loaded\n"
        "from hmrec_cli.plugin import train\nassert 'torch' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_contract_page_lists_exactly_the_facade() -> None:
    page = (ROOT / "docs" / "plugin-contract.md").read_text()
    section = page.split("## What a plugin may import", 1)[1].split("\n## ", 1)[0]
    rows = [
        line.split("|")[2] for line in section.splitlines() if line.startswith("| ") and not line.startswith("| what")
    ]
    listed = {name for row in rows for name in re.findall(r"`(\w+)`", row)}
    assert listed == set(facade.__all__), (sorted(listed - set(facade.__all__)), sorted(set(facade.__all__) - listed))


def test_the_example_plugin_and_the_contract_page_import_only_the_facade() -> None:
    example = ROOT / "examples" / "hmrec-example-plugin"
    modules = {module for path in example.rglob("*.py") for module, _ in imported_names(path)}
    assert modules == {"hmrec_cli.plugin"}, modules
    texts = [(ROOT / "docs" / "plugin-contract.md").read_text(), (example / "README.md").read_text()]
    named = {m for text in texts for m in re.findall(r"hmrec_cli[./][\w./]*\w", text)}
    assert named == {"hmrec_cli.plugin", "hmrec_cli.plugin.Retriever"}, named
