"""What a user sees around the results: usage errors in one line, help texts that keep their
brackets, hints that work, one --json vocabulary, and numbers and words formatted alike."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.bad_input("usage-error")
@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["recall", "--k", "0"], "--k 0: must be 1 or more"),
        (["evaluate", "--weeks", "0"], "--weeks 0: must be 1 or more"),
        (["tune", "--trials", "0"], "--trials 0: must be 1 or more"),
        (["rank", "--k", "70000"], "--k 70000: must be 65535 or less"),
        (["data", "ingest", "--max-price", "-1"], "--max-price -1: must be 0 or more"),
        (["data", "ingest", "--max-price", "nan"], "--max-price nan: not a number"),
        (["recall", "-o"], "'-o' requires an argument"),
        (["recall", "--bogus"], "no such option: --bogus"),
        (["cache", "ls", "--bogus"], "no such option: --bogus"),
        (["submit"], "missing option '--candidates'"),
        (["plugins", "show"], "missing argument 'name'"),
        (["recal"], "no such command 'recal'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_usage_errors_end_in_one_line_naming_the_option(cli, args: list[str], names: str) -> None:
    code, out, err = cli(*args)
    assert code == 2 and out == "", (out, err)
    assert err.startswith("hmrec: error: ") and err.count("\n") == 1, err
    assert names in err, err


def test_help_and_bare_groups_still_print_the_help(cli) -> None:
    for args in ([], ["data"], ["--help"], ["recall", "-h"]):
        code, out, err = cli(*args)
        assert code in (0, 2) and "Usage: hmrec" in out and "error" not in err, (args, out, err)


def _commands(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_help_keeps_the_square_brackets_of_its_source() -> None:
    """Typer reads help as rich markup: `[plugins.NAME]` vanished from `--config`'s help."""
    import re

    import typer.main
    from typer.testing import CliRunner

    from hmrec_cli import docs_gen
    from hmrec_cli.cli import app

    wide = {**docs_gen.ENV, "COLUMNS": "2000", "TERMINAL_WIDTH": "2000"}
    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        texts = [command.help, *(getattr(p, "help", None) for p in command.params)]
        brackets = {b for text in texts if text for b in re.findall(r"\[[^\]\n]*\]", text.replace("\\[", "["))}
        shown = CliRunner().invoke(app, [*path, "--help"], env=wide).stdout
        missing = sorted(b for b in brackets if b not in shown)
        assert not missing, f"`hmrec {' '.join(path)} --help` lost {missing}"
        checked += len(brackets)
    assert checked >= 6  # --config in recall, rank, evaluate, submit, tune, plugins show
    assert "[plugins.NAME]" in (docs_gen.DOCS / "cli.md").read_text()
