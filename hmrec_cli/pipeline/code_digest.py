"""Digests of hmrec's own code, so a cache key changes when the code that made an entry changes.

A digest hashes each file's parsed code without docstrings (`ast.dump` drops comments and
layout): fixing a comment or a docstring keeps every key, changing a line of code does not.
`tests/test_plugin_versions.py` holds built-in plugins to the core modules they reach with it;
the pipeline stages hash `pipeline_state` of their own module into their cache keys: the digest
of that module and every core module it reaches (computed once per process), and the `POLICY`
of each of those modules that has one (read at each call), so a new constant in a policy, or a
policy in a new module, enters the key without anyone listing it. Working out the ranking's
digest (31 modules, 275 kB of source) takes 0.3-0.6 s, once per process.

A name taken from the facade (`hmrec_cli.plugin`) counts as its home module, and the facade itself
as nothing: it only says where names live and loads them lazily, so it changes no result. As this
module reads it, every stage would reach it otherwise, and one name added to it made every cached
candidate set fit again (Ta-Feng's nine `auto` sources over 7 weeks: about 2 hours).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

import hmrec_cli
from hmrec_cli.plugin import HOME

CORE = Path(hmrec_cli.__file__).parent  # the package's root, wherever this module lives in it
POLICY_NAME = "POLICY"  # the module-level name of a stage's frozen dataclass of result-changing constants


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest(sources: dict[str, str]) -> str:
    """sha256 over each file's name and parsed code without docstrings (ast.dump drops comments)."""
    return hashlib.sha256(_code(_parsed(sources))).hexdigest()[:16]


def _parsed(sources: dict[str, str]) -> dict[str, ast.Module]:
    """Each file's tree, by name in sorted order: parsed once for both its code and its imports."""
    return {name: ast.parse(sources[name]) for name in sorted(sources)}


def _code(trees: dict[str, ast.Module]) -> bytes:
    """What a digest hashes of parsed files: each one's name and code without docstrings."""
    return b"".join(_dumped(name, tree) for name, tree in trees.items())


def _dumped(name: str, tree: ast.AST) -> bytes:
    return name.encode() + b"\0" + ast.dump(_without_docstrings(tree)).encode() + b"\0"


def core_module(dotted: str) -> str | None:
    """ "hmrec_cli.a.b" as the core module's path without ".py" ("a/b", or "a/b/__init__"); None
    when it names no module of hmrec_cli (an attribute, or another package)."""
    parts = dotted.split(".")
    if parts[0] != "hmrec_cli" or len(parts) < 2:
        return None
    for path in (CORE.joinpath(*parts[1:]).with_suffix(".py"), CORE.joinpath(*parts[1:], "__init__.py")):
        if path.is_file():
            return path.relative_to(CORE).with_suffix("").as_posix()
    return None


def core_imports(source: str) -> set[str]:
    """The core modules a source imports anywhere (lazy imports inside functions too)."""
    return _imports(ast.parse(source))


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "hmrec_cli.plugin":
            found |= {HOME[a.name] for a in node.names if a.name in HOME}  # the facade: its names' homes only
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in map(core_module, found) if m is not None}


@dataclass(frozen=True)
class _Module:
    imports: frozenset[str]  # the core modules it imports
    digest: bytes  # what `code_digest` hashes of it
    has_policy: bool  # it assigns POLICY_NAME at its top level


@functools.cache
def _module(name: str) -> _Module:
    """Core module `name` ("a/b"), parsed once per process (most callers share most modules)."""
    tree = ast.parse((CORE / f"{name}.py").read_text())
    imports, has_policy = frozenset(_imports(tree)), _defines_policy(tree)
    return _Module(imports, _dumped(f"{name}.py", tree), has_policy)


def _defines_policy(tree: ast.Module) -> bool:
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == POLICY_NAME for t in targets):
            return True
    return False


def core_module_imports(name: str) -> frozenset[str]:
    """What core module `name` imports."""
    return _module(name).imports


def core_closure(sources: dict[str, str]) -> list[str]:
    """Every core module the sources reach through imports, followed module to module."""
    return _reached(_parsed(sources))


def _reached(trees: dict[str, ast.Module]) -> list[str]:
    return _closure(set().union(*map(_imports, trees.values())))


def _closure(todo: set[str]) -> list[str]:
    seen = set()
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= core_module_imports(name) - seen
    return sorted(seen)


@functools.cache
def _stage(module: str) -> tuple[str, tuple[str, ...]]:
    """The digest of core module `module` ("hmrec_cli.pipeline.recall") and of all it reaches (as
    `code_digest` of their sources), and those among them that define a POLICY; once per process."""
    names = _closure({core_module(module)})
    return _modules_digest(names), tuple(name for name in names if _module(name).has_policy)


def _modules_digest(names: list[str], own: bytes = b"") -> str:
    """sha256 over `own` (a plugin's dumped code) and the digests of core modules `names`."""
    h = hashlib.sha256(own)
    for name in names:
        h.update(_module(name).digest)
    return h.hexdigest()[:16]


def pipeline_digest(module: str) -> str:
    """The digest of a pipeline module's code and of every core module it reaches."""
    return _stage(module)[0]


def pipeline_state(module: str) -> dict:
    """What a stage's cache key takes of the code: `pipeline_digest(module)` and, per module it
    reaches that has one, its POLICY as it is now (a test's monkeypatched value included)."""
    digest, with_policy = _stage(module)
    policies = {
        m: dataclasses.asdict(
            getattr(importlib.import_module(f"hmrec_cli.{m.removesuffix('/__init__').replace('/', '.')}"), POLICY_NAME)
        )
        for m in with_policy
    }
    return {"code": digest, "policies": policies}


def plugin_sources(cls: type) -> dict[str, str]:
    """The plugin's module, or every module of its package when the class lives in its `__init__`."""
    path = Path(inspect.getfile(cls))
    files = sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
    return {f.name: f.read_text() for f in files}


@functools.cache
def plugin_digest(cls: type) -> str:
    """What a cache key takes of a plugin's code: its sources (`plugin_sources`) and every core
    module they reach. A plugin edited without a version bump (a third-party plugin in development,
    an experiment in a workdir) then never serves the sets or rankings its old code made."""
    try:
        sources = plugin_sources(cls)
    except (TypeError, OSError):  # a class no file holds (defined in an interactive session)
        return "no-source"
    trees = _parsed(sources)
    return _modules_digest(_reached(trees), _code(trees))
