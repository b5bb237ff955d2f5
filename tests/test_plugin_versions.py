"""A built-in plugin whose code changes must bump its `version`: the version is part of every cache
key, so without a bump `hmrec` would serve candidate sets and rankings the old code made.

`tests/plugin_versions.json` records, per built-in plugin, its version, a digest of its code (its
module, or every module of its package, parsed, so comments, docstrings and layout do not count) and
the core modules (`hmrec_cli/`, subpackages too) it imports, directly or through other core modules; and a digest
of each of those core modules (`hmrec_cli.pipeline.code_digest`, which the pipeline's cache keys use too).
When a plugin's code or a core module it uses changes, either bump the plugin's `version` (its outputs
may change) or, where they cannot (a rename, a refactor), say so by recording the new digests. Both are one command:

    python tests/test_plugin_versions.py --record
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import pytest

from hmrec_cli.pipeline.code_digest import CORE, code_digest, core_closure, core_imports, plugin_sources
from hmrec_cli.registry import built_in

LOCK = Path(__file__).with_name("plugin_versions.json")
BUILT_IN = built_in()
RECORD = "python tests/test_plugin_versions.py --record"


@functools.cache
def current() -> dict[str, dict]:
    """Each built-in's version, code digest and core modules, and each core module's digest,
    computed once per run (every test reads it)."""
    plugins = {}
    for p in BUILT_IN:
        cls = p.load()
        sources = plugin_sources(cls)
        plugins[f"{p.kind}:{p.name}"] = {
            "version": cls.version,
            "code": code_digest(sources),
            "core": core_closure(sources),
        }
    used = sorted({m for entry in plugins.values() for m in entry["core"]})
    core = {m: code_digest({f"{m}.py": (CORE / f"{m}.py").read_text()}) for m in used}
    return {"plugins": dict(sorted(plugins.items())), "core": core}


def locked() -> dict[str, dict]:
    return json.loads(LOCK.read_text())


def test_the_lock_lists_every_built_in_plugin() -> None:
    assert set(locked()["plugins"]) == set(current()["plugins"]), f"plugins added or removed: run `{RECORD}`"


def verdict(name: str, lock: dict, now: dict) -> str | None:
    """Why plugin `name`'s recorded entry no longer holds, or None when it does."""
    was, entry = lock["plugins"].get(name), now["plugins"][name]
    if was is None:
        return f"{name} is not recorded: run `{RECORD}`"
    changed = [f"{m}.py" for m in entry["core"] if lock["core"].get(m) != now["core"][m]]
    if entry["code"] != was["code"]:
        changed.insert(0, "its own code")
    if changed and entry["version"] == was["version"]:
        return (
            f"{name}: {', '.join(changed)} changed but its version is still {entry['version']}: bump `version` (cached "
            f"results of the old code would be served), or, if its outputs cannot change, run `{RECORD}`"
        )
    if entry != was:
        return f"{name}: version {was['version']} -> {entry['version']} (or the core modules it uses changed); run `{RECORD}`"
    return None


@pytest.mark.parametrize("plugin", BUILT_IN, ids=[f"{p.kind}-{p.name}" for p in BUILT_IN])
def test_changed_code_comes_with_a_version_bump_or_a_record(plugin) -> None:
    problem = verdict(f"{plugin.kind}:{plugin.name}", locked(), current())
    assert problem is None, problem


def test_a_changed_core_module_asks_every_plugin_using_it_for_a_bump() -> None:
    now = current()
    lock = json.loads(json.dumps(now))
    lock["core"]["toolkit/weekly_examples"] = "0" * 16  # as if weekly_examples.py changed since the record
    assert "toolkit/weekly_examples.py changed but its version is still" in verdict("retriever:tdm", lock, now)
    assert verdict("retriever:popular", lock, now) is None  # popular does not use it
    lock["plugins"]["retriever:tdm"]["version"] = "0"  # a bump: recorded, not refused
    assert "run `" in verdict("retriever:tdm", lock, now) and "bump" not in verdict("retriever:tdm", lock, now)


def test_a_plugin_is_held_to_the_core_modules_it_reaches() -> None:
    """tdm imports hmrec_cli.toolkit.weekly_examples, which imports hmrec_cli.toolkit.sequences (tdm does not): a
    change to either must be judged for tdm; a core module nothing of tdm reaches (the CLI's) is not tdm's."""
    tdm = current()["plugins"]["retriever:tdm"]["core"]
    assert {
        "toolkit/weekly_examples",
        "toolkit/sequences",
        "toolkit/features",
        "toolkit/training",
        "plugin_api",
    } <= set(tdm)
    assert not [m for m in tdm if m.startswith("cli/")]
    source = "import hmrec_cli.data.splits\nfrom hmrec_cli import cache, console\ndef f():\n    from hmrec_cli.toolkit.features import x\n"
    assert core_imports(source) == {"data/splits", "cache", "console", "toolkit/features"}
    assert core_imports("from hmrec_cli.synth import nothing_here\nimport hmrec_plugins.tdm\n") == {"synth/__init__"}


def test_a_name_taken_from_the_facade_counts_as_its_home_module() -> None:
    """`from hmrec_cli.plugin import train` holds the plugin to toolkit/training.py, as importing it
    from there would: the facade imports its names lazily, so its own imports name none of them. The
    facade itself changes no result, so no digest takes it: not a plugin's, not a stage's."""
    assert core_imports("from hmrec_cli.plugin import train, Retriever, console\n") == {
        "toolkit/training",
        "plugin_api",
        "console",
    }
    assert "toolkit/training" in core_closure({"p.py": "from hmrec_cli.plugin import FittedRetriever, train\n"})
    assert "plugin" not in core_closure({"p.py": "from hmrec_cli.pipeline import ranking, recall\n"})


def test_the_digest_ignores_comments_and_docstrings_but_not_code() -> None:
    base = 'def f(x):\n    """Why."""\n    return x + 1\n'
    assert code_digest({"m.py": base}) == code_digest(
        {"m.py": 'def f(x):  # note\n    """Why not."""\n\n    return (x + 1)\n'}
    )
    assert code_digest({"m.py": base}) != code_digest({"m.py": base.replace("+ 1", "+ 2")})
    assert code_digest({"m.py": base}) != code_digest({"n.py": base})


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(f"usage: {RECORD}")
    LOCK.write_text(json.dumps(current(), indent=1) + "\n")
    print(f"recorded {len(BUILT_IN)} plugins in {LOCK}")
