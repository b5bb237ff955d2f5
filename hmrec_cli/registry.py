"""Finding plugins: entry points `hmrec.retrievers` and `hmrec.rankers`, loaded only when used.

Built-in plugins are declared in hmrec's own pyproject exactly as a third-party package declares
its own, so the core never imports a plugin by name. `HMREC_LOAD_PLUGINS=a,b` restricts loading
to those names (how to debug a broken install). A plugin that fails to import, or whose parameter
declarations contradict themselves (a default outside its `valid`), is reported as broken and the
others keep working.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from hmrec_cli.errors import InputError
from hmrec_cli.params import problems

GROUPS = {"retriever": "hmrec.retrievers", "ranker": "hmrec.rankers"}


@dataclass(frozen=True)
class PluginInfo:
    """A registered plugin; `error` is set when importing it failed."""

    kind: str
    name: str
    entry_point: EntryPoint
    distribution: str
    version: str

    def load(self) -> type:
        """The plugin's class, once its parameter declarations are found consistent (`params.problems`)."""
        try:
            cls = self.entry_point.load()
            wrong = problems(cls.Params)
        except Exception as error:  # a broken plugin must not take the CLI down
            raise PluginBroken(self.name, f"{type(error).__name__}: {error}") from error
        if wrong:
            raise PluginBroken(self.name, f"{cls.Params.__name__}.{wrong[0]}")
        return cls


class PluginBroken(InputError):
    def __init__(self, name: str, reason: str):
        super().__init__(f"plugin {name} is broken ({reason})")
        self.reason = reason


def discover(kind: str | None = None) -> list[PluginInfo]:
    """Every registered plugin (of `kind`), sorted, without importing any of them."""
    allowed = os.environ.get("HMREC_LOAD_PLUGINS")
    only = {n.strip() for n in allowed.split(",") if n.strip()} if allowed else None
    found = []
    for plugin_kind, group in GROUPS.items():
        if kind and plugin_kind != kind:
            continue
        for ep in entry_points(group=group):
            if only is not None and ep.name not in only:
                continue
            dist = ep.dist
            found.append(
                PluginInfo(plugin_kind, ep.name, ep, dist.name if dist else "?", dist.version if dist else "?")
            )
    return sorted(found, key=lambda p: (p.kind, p.name))


def built_in(kind: str | None = None) -> list[PluginInfo]:
    """The plugins hmrec itself ships (plugins/), as registered: what its docs and checks cover."""
    return [p for p in discover(kind) if p.distribution == "hmrec"]


def find(kind: str, name: str) -> PluginInfo:
    plugins = {p.name: p for p in discover(kind)}
    if name not in plugins:
        raise InputError(f"no {kind} named {name!r}{suggestion(name, kind)}")
    return plugins[name]


def suggestion(name: str, kind: str | None = None) -> str:
    """What to say after "no plugin named X": the plugin of the other kind it is, or the closest
    installed names ("did you mean"), or the installed list."""
    if kind == "retriever" and name == "auto":
        return ": --candidates auto chooses a ranking's sources (hmrec rank, submit --ranker); elsewhere name them"
    every = discover()
    other = [p for p in every if p.name == name and p.kind != kind]
    if kind and other:
        return f": {name} is a {other[0].kind}, not a {kind}"
    names = sorted(p.name for p in every if kind is None or p.kind == kind)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    return f" (installed: {', '.join(names) or 'none'})"
