"""Writes the reference pages that must not drift from the code: `docs/cli.md` from the `--help` of
every command, `docs/plugins.md` from `hmrec plugins show NAME --json` of every built-in plugin.

    python -m hmrec_cli.cli.docs_gen           # rewrite both pages
    python -m hmrec_cli.cli.docs_gen --check   # exit 1, naming the stale pages, when they differ

A test runs the check, so a new command, option or plugin parameter fails the suite until the pages
are regenerated. Help is rendered at a fixed width without colour, so the pages do not depend on the
terminal that wrote them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
WIDTH = "100"
ENV = {
    "COLUMNS": WIDTH,
    "TERMINAL_WIDTH": WIDTH,
    "NO_COLOR": "1",
    "TERM": "dumb",
    "HMREC_LOAD_PLUGINS": None,
    "HMREC_DATA": None,
    "HMREC_CACHE": None,
}
REGENERATE = "python -m hmrec_cli.cli.docs_gen"


def _invoke(args: list[str]) -> str:
    from typer.testing import CliRunner

    from hmrec_cli.cli import app

    result = CliRunner().invoke(app, args, env=ENV, prog_name="hmrec", catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"hmrec {' '.join(args)} exited {result.exit_code}: {result.stderr}")
    return result.stdout


def _commands(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group, parents first, in the order `--help` lists them."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            found += _commands(sub, (*path, name))
    return found


def cli_page() -> str:
    import typer.main

    from hmrec_cli.cli import app

    lines = [
        "# Command reference",
        "",
        f"Generated from `--help` by `{REGENERATE}`; do not edit by hand.",
        "Every command takes `--json`; `--data` and `--cache` can come from `HMREC_DATA` and `HMREC_CACHE`.",
        "",
    ]
    for path in _commands(typer.main.get_command(app)):
        title = " ".join(("hmrec", *path))
        text = "\n".join(line.rstrip() for line in _invoke([*path, "--help"]).strip("\n").splitlines())
        lines += [f"## `{title}`", "", "```", text, "```", ""]
    return "\n".join(lines)


def plugins_page() -> str:
    from hmrec_cli.registry import built_in

    shipped = built_in()
    lines = [
        "# Built-in plugins",
        "",
        f"Generated from `hmrec plugins show NAME --json` by `{REGENERATE}`; do not edit by hand.",
        "Set a parameter with `-o key=value` (`-o source:key=value` for a source of `hmrec rank`), or in the",
        "project config `hmrec.toml` (`[plugins.NAME]` tables; `-o` wins). `hmrec tune` searches the ranges",
        "listed (log: log-uniformly), which lie inside the allowed values.",
        "Shared parameter names are in [conventions.md](conventions.md); the contract in [plugin-contract.md](plugin-contract.md).",
        "",
    ]
    for kind in ("retriever", "ranker"):
        lines += [f"## {kind.capitalize()}s", ""]
        for plugin in (p for p in shipped if p.kind == kind):
            shown = json.loads(_invoke(["plugins", "show", plugin.name, "--json"]))
            lines += [f"### `{plugin.name}` (version {shown['version']})", "", shown["summary"], ""]
            lines += [
                "| parameter | type | default | allowed | `hmrec tune` searches | what it does |",
                "|---|---|---|---|---|---|",
            ]
            for p in shown["parameters"]:
                cells = [f"`{p['name']}`", p["type"], f"`{p['default']}`", p["valid"] or "", p["range"] or "", p["doc"]]
                lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
            lines.append("")
    return "\n".join(lines)


def pages() -> dict[Path, str]:
    return {DOCS / "cli.md": cli_page(), DOCS / "plugins.md": plugins_page()}


def stale() -> list[Path]:
    """The pages whose file differs from what the code generates now."""
    return [path for path, text in pages().items() if not path.is_file() or path.read_text() != text]


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        behind = stale()
        for path in behind:
            print(f"{path} is out of date; regenerate with `{REGENERATE}`", file=sys.stderr)
        return 1 if behind else 0
    if argv:
        print(f"usage: {REGENERATE} [--check]", file=sys.stderr)
        return 2
    for path, text in pages().items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
