"""A built-in plugin whose code changes must bump its `version`: the version is part of every cache
key, so without a bump `hmrec` would serve candidate sets and rankings the old code made.

`tests/plugin_versions.json` records, per built-in plugin, its version and a digest of its code (its
module, or every module of its package, parsed, so comments, docstrings and layout do not count).
When a plugin's code changes, either bump its `version` (its outputs may change) or, where they
cannot (a rename, a refactor), say so by recording the new digest. Both are one command:

    python tests/test_plugin_versions.py --record

The check covers a plugin's own files only; a change in a core helper it calls is the author's to judge.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import sys
from pathlib import Path

import pytest

from hmrec_cli.registry import built_in

LOCK = Path(__file__).with_name("plugin_versions.json")
BUILT_IN = built_in()
RECORD = "python tests/test_plugin_versions.py --record"


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest(sources: dict[str, str]) -> str:
    """sha256 over each file's name and parsed code without docstrings (ast.dump drops comments)."""
    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + ast.dump(_without_docstrings(ast.parse(sources[name]))).encode() + b"\0")
    return h.hexdigest()[:16]


def plugin_sources(cls: type) -> dict[str, str]:
    """The plugin's module, or every module of its package when it is one."""
    path = Path(inspect.getfile(cls))
    files = sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
    return {f.name: f.read_text() for f in files}


@functools.cache
def current() -> dict[str, dict[str, str]]:
    """Each built-in's version and code digest, computed once per run (every test reads it)."""
    entries = {}
    for p in BUILT_IN:
        cls = p.load()
        entries[f"{p.kind}:{p.name}"] = {"version": cls.version, "code": code_digest(plugin_sources(cls))}
    return dict(sorted(entries.items()))


def test_the_lock_lists_every_built_in_plugin() -> None:
    assert set(json.loads(LOCK.read_text())) == set(current()), f"plugins added or removed: run `{RECORD}`"


@pytest.mark.parametrize("plugin", BUILT_IN, ids=[f"{p.kind}-{p.name}" for p in BUILT_IN])
def test_changed_code_comes_with_a_version_bump_or_a_record(plugin) -> None:
    name = f"{plugin.kind}:{plugin.name}"
    locked, now = json.loads(LOCK.read_text()).get(name), current()[name]
    assert locked is not None, f"{name} is not recorded: run `{RECORD}`"
    if now["code"] != locked["code"] and now["version"] == locked["version"]:
        pytest.fail(f"{name}'s code changed but its version is still {now['version']}: bump `version` (cached "
                    f"results of the old code would be served), or, if its outputs cannot change, run `{RECORD}`")
    assert now == locked, f"{name}: version {locked['version']} -> {now['version']}; run `{RECORD}`"


def test_the_digest_ignores_comments_and_docstrings_but_not_code() -> None:
    base = 'def f(x):\n    """Why."""\n    return x + 1\n'
    assert code_digest({"m.py": base}) == code_digest({"m.py": 'def f(x):  # note\n    """Why not."""\n\n    return (x + 1)\n'})
    assert code_digest({"m.py": base}) != code_digest({"m.py": base.replace("+ 1", "+ 2")})
    assert code_digest({"m.py": base}) != code_digest({"n.py": base})


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(f"usage: {RECORD}")
    LOCK.write_text(json.dumps(current(), indent=1) + "\n")
    print(f"recorded {len(BUILT_IN)} plugins in {LOCK}")
