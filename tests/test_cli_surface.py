"""What every command offers, and what its messages tell a user to do next."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import typer.main

from hmrec_cli.cli import app


def _leaf_commands(command, path: tuple[str, ...] = ()) -> list:
    """Every command a user can run, with the words that reach it; a group that runs by itself
    (`hmrec plugins`) counts as a command too."""
    found = []
    if hasattr(command, "commands"):  # a group
        if command.invoke_without_command and path:
            found.append((path, command))
        for name, sub in command.commands.items():
            found += _leaf_commands(sub, (*path, name))
    else:
        found.append((path, command))
    return found


COMMANDS = _leaf_commands(typer.main.get_command(app))


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {
        "recall",
        "rank",
        "evaluate",
        "submit",
        "data ingest",
        "data synth",
        "cache clear",
        "cache ls",
        "plugins",
        "plugins show",
    } <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_takes_json(path: tuple[str, ...]) -> None:
    command = dict(COMMANDS)[path]
    flags = {flag for param in command.params for flag in getattr(param, "opts", [])}
    assert "--json" in flags, f"`hmrec {' '.join(path)}` has no --json"


def test_json_of_commands_that_lacked_it(cli, tmp_path: Path) -> None:
    cleared = cli.json("cache", "clear", "--cache", tmp_path / "cache", "--data", tmp_path / "hm")
    assert cleared == {"removed_entries": 0, "removed_temp_files": 0, "kept_foreign": 0}
    code, out, err = cli("data", "synth", "--scale", "tiny", "--out", tmp_path / "raw", "--seed", "3", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["rows"] > 0 and made["scale"] == "tiny" and made["first_date"] < made["last_date"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plugins", "show", "itmcf"], "did you mean itemcf?"),
        (["recall", "--method", "repurchse"], "did you mean repurchase?"),
        (["rank", "--ranker", "dn", "--candidates", "popular"], "did you mean din?"),
        (["rank", "--ranker", "bpr", "--candidates", "popular"], "bpr is a retriever, not a ranker"),
    ],
)
def test_misspelt_plugin_names_get_a_suggestion(
    cli, store_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    extra = [] if args[0] == "plugins" else ["--data", store_dir, "--cache", tmp_path]
    code, _, err = cli(*args, *extra)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_a_retriever_named_as_predictions_is_not_sent_to_rank(cli, store_dir: Path, tmp_path: Path) -> None:
    """Regression: `--predictions bpr` suggested `hmrec rank --ranker bpr`, which cannot work."""
    code, _, err = cli(
        "evaluate", "--data", store_dir, "--cache", tmp_path / "c d", "--week", "1", "--predictions", "bpr"
    )
    assert code == 2 and err.count("\n") == 1
    assert "--ranker bpr" not in err and "bpr is a retriever" in err
    assert (
        f"--candidates bpr --data {store_dir} --cache '{tmp_path / 'c d'}'" in err
    )  # pasteable, with the user's folders


def test_data_weeks_lists_every_week(cli, store_dir: Path) -> None:
    from hmrec_cli.data.store import Store

    store = Store.open(store_dir)
    weeks = cli.json("data", "weeks", "--data", store_dir)["weeks"]
    assert weeks[0]["week"] == "last" and weeks[0]["end"] == store.last_date.isoformat()
    assert sum(w["rows"] for w in weeks) == store.transactions.height
    assert weeks[-1]["start"] <= store.first_date.isoformat() <= weeks[-1]["end"]
    with_oracle = [w["start"] for w in weeks if w["oracle"]]
    assert with_oracle and all(store.oracle(date.fromisoformat(s)) is not None for s in with_oracle)
    assert store.oracle(date.fromisoformat(weeks[-1]["start"])) is None


def test_hints_carry_folders_that_came_from_the_environment(cli, monkeypatch, store_dir: Path, tmp_path: Path) -> None:
    """A hint pasted into another shell must still find the store and cache set by HMREC_DATA / HMREC_CACHE."""
    monkeypatch.setenv("HMREC_DATA", str(store_dir))
    monkeypatch.setenv("HMREC_CACHE", str(tmp_path / "cache"))
    code, _, err = cli("evaluate", "--week", "1", "--predictions", "din")
    assert (
        code == 2
        and "hmrec rank --ranker din --week " in err
        and f"--data {store_dir} --cache {tmp_path / 'cache'}" in err
    )
