"""What a user sees around the results: usage errors in one line, help texts that keep their
brackets, hints that work, one --json vocabulary, and numbers and words formatted alike."""

from __future__ import annotations

import json
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
        (["recall"], "missing option '--method'"),
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

    from hmrec_cli.cli import app, docs_gen

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


def _run_hint(cli, hint: str) -> tuple[int, str, str]:
    """Run a printed `hmrec ...` hint as the user would paste it."""
    import shlex

    words = shlex.split(hint)
    assert words[0] == "hmrec", hint
    return cli(*words[1:])


def _hint(text: str, before: str) -> str:
    """The command after `before`: the first one in backticks, or else the rest of the next line."""
    rest = text.split(before, 1)[1].strip()
    return rest.split("`")[1] if rest.startswith("`") else rest.splitlines()[0].strip()


def test_rank_on_week_next_hints_a_submission_that_works(cli, store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """Regression: it hinted `hmrec evaluate --week <week next>`, which exits 2 (nothing to score)."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(
        "rank",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "c",
        "--ranker",
        "merge",
        "--candidates",
        "popular",
        "--week",
        "next",
        "-q",
    )
    assert code == 0, err
    hint = _hint(out, "write the Kaggle submission with:")
    assert "evaluate" not in out and hint.startswith("hmrec submit --candidates popular --ranker merge"), out
    code, out, err = _run_hint(cli, hint)
    assert code == 0 and (tmp_path / "submission.csv").is_file(), err


def test_evaluate_of_a_missing_ranking_hints_the_rank_of_its_own_sources(cli, store_dir: Path, tmp_path: Path) -> None:
    """Regression: the hint named popular,repurchase whatever the user's rankings were made of."""
    cache = tmp_path / "c"
    code, _, err = cli(
        "rank",
        "--data",
        store_dir,
        "--cache",
        cache,
        "--ranker",
        "merge",
        "--candidates",
        "popular",
        "--week",
        "1",
        "-o",
        "popular:window_days=5",
        "-q",
    )
    assert code == 0, err
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--predictions", "merge")
    assert code == 2 and err.count("\n") == 1, err
    hint = _hint(err, "(run ")
    assert "--candidates popular -o popular:window_days=5" in hint and "repurchase" not in hint, hint
    assert _run_hint(cli, hint)[0] == 0
    assert cli("evaluate", "--data", store_dir, "--cache", cache, "--predictions", "merge")[0] == 0


def test_cache_hints_list_the_cache_in_use(cli, store_dir: Path, tmp_path: Path) -> None:
    """Regression: `(keys: hmrec cache ls)` listed the default cache, not the --cache in use."""
    cache = tmp_path / "my cache"
    common = ["--data", store_dir, "--cache", cache, "--week", "1"]
    made = [
        cli.json("rank", "--ranker", "merge", "--candidates", sources, *common, "-q")["name"]
        for sources in ("popular", "popular,repurchase")
    ]
    code, _, err = cli("evaluate", "--predictions", "merge", *common)
    assert code == 0 and "name another as merge@KEY" in err, err
    code, listed, _ = _run_hint(cli, _hint(err, "(keys: ") + " --json")  # --json: a narrow table cuts the names
    assert code == 0 and set(made) <= {e["name"] for e in json.loads(listed)["entries"]}, listed
    code, _, err = cli("evaluate", "--predictions", "merge@0123456789abcdef", *common)
    assert code == 2 and _run_hint(cli, _hint(err, "(see "))[0] == 0, err


def test_a_raw_folder_given_as_data_hints_an_ingest_that_works(cli, raw: Path) -> None:
    """Regression: `data info --data RAW` hinted `hmrec data ingest RAW_FOLDER --data RAW`, which refuses
    a folder of other files."""
    code, _, err = cli("data", "info", "--data", raw)
    assert code == 2 and err.count("\n") == 1, err
    hint = _hint(err, "(run ")
    store_note = next(f["value"] for f in cli.json("doctor", "--data", raw)["findings"] if f["section"] == "store")
    assert f"({hint} makes one)" in store_note, store_note  # doctor gives the same command
    code, _, ingest_err = _run_hint(cli, hint)
    assert code == 0, (hint, ingest_err)
    assert cli("data", "info", "--data", hint.split("--data ")[1])[0] == 0


def test_a_damaged_store_hints_a_reingest_that_works(cli, store_dir: Path, tmp_path: Path) -> None:
    """Regression: `hmrec data ingest --force` (no raw folder, no --data) cannot rebuild anything."""
    import shutil

    store = Path(shutil.copytree(store_dir, tmp_path / "hm"))
    table = store / "transactions.parquet"
    table.write_bytes(table.read_bytes()[:100])
    code, _, err = cli("data", "info", "--data", store)
    assert code == 2, err
    code, _, ingest_err = _run_hint(cli, _hint(err, "; run "))
    assert code == 0, ingest_err
    assert cli("data", "info", "--data", store)[0] == 0


def _json_keys(value, path: str = "", open_keys: frozenset = frozenset()):
    """(path, key) of every key in a JSON value, list items as `[]`; below a key whose children are
    names (plugins, sources, parameters) nothing is listed."""
    if isinstance(value, list):
        for item in value:
            yield from _json_keys(item, f"{path}[]", open_keys)
    elif isinstance(value, dict):
        for key, child in value.items():
            yield path, key
            if key not in open_keys:
                yield from _json_keys(child, f"{path}.{key}" if path else key, open_keys)


def _json_doc() -> tuple[dict[str, str], dict[str, set[str]]]:
    """docs/json.md: the vocabulary (key -> meaning) and each command's top-level keys."""
    import re

    from hmrec_cli.cli import docs_gen

    vocabulary, commands, section = {}, {}, None
    for line in (docs_gen.DOCS / "json.md").read_text().splitlines():
        if heading := re.fullmatch(r"### `hmrec ([a-z ]+)`", line):
            section = commands.setdefault(heading[1], set())
        elif row := re.fullmatch(r"\| `([^`]+)` \| (.*) \|", line):
            vocabulary[row[1]] = row[2]
        elif section is not None and line.startswith("Keys: "):
            section.update(re.findall(r"`([^`]+)`", line))
    return vocabulary, commands


def test_every_json_key_is_in_the_documented_vocabulary(cli, store_dir: Path, raw: Path, tmp_path: Path) -> None:
    """One vocabulary across commands (map@12, recall@100, buyers, name, path), written down in
    docs/json.md: a key a command prints and the page does not list fails here."""
    import shutil

    import polars as pl

    cache, store = tmp_path / "c", Path(shutil.copytree(store_dir, tmp_path / "hm"))
    common = ["--data", store, "--cache", cache]
    submission = tmp_path / "s.csv"
    customer = pl.read_parquet(store / "customers.parquet")["customer_id"][0]
    runs = {
        "recall": ["recall", "--method", "popular", "--week", "1", *common],
        "rank": ["rank", "--ranker", "merge", "--candidates", "popular", "--week", "1", *common],
        "evaluate": ["evaluate", "--predictions", "merge", "--week", "1", *common],
        "submit": ["submit", "--candidates", "popular", "--out", submission, *common],
        "tune": ["tune", "--method", "popular", "--trials", "2", "--weeks", "1", "--no-write", *common],
        "data info": ["data", "info", "--data", store],
        "data weeks": ["data", "weeks", "--data", store],
        "data report": ["data", "report", "--data", store],
        "data sample": ["data", "sample", "--data", store, "--out", tmp_path / "sample"],
        "data ingest": ["data", "ingest", raw, "--data", tmp_path / "ingested"],
        "data synth": ["data", "synth", "--scale", "tiny", "--out", tmp_path / "synth"],
        "plugins": ["plugins"],
        "plugins show": ["plugins", "show", "popular"],
        "cache ls": ["cache", "ls", "--cache", cache],
        "config show": ["config", "show", *common],
        "cache clear": ["cache", "clear", "--method", "nothing", *common],
        "doctor": ["doctor", *common],
        "recommend": [
            "recommend",
            "--customer",
            customer,
            "--ranker",
            "merge",
            "--candidates",
            "popular",
            "--train-weeks",
            "2",
            *common,
        ],
        "export": ["export", "--ranking", "merge", "--out", tmp_path / "recs.csv", *common],
    }
    quiet = {"recall", "rank", "submit", "tune", "data ingest", "data synth", "recommend"}
    outputs = {name: [cli.json(*args, *(["-q"] if name in quiet else []))] for name, args in runs.items()}
    assert cli("rank", "--ranker", "merge", "--candidates", "popular", "--week", "2", *common, "-q")[0] == 0
    outputs["evaluate"] += [
        cli.json("evaluate", "--candidates", "popular,repurchase", "--weeks", "2", "--week", "1", *common, "-q"),
        cli.json("evaluate", "--predictions", "merge", "--weeks", "2", "--week", "1", *common),
        cli.json("evaluate", "--week", "1", *common),
    ]
    compared = outputs["evaluate"][1]
    assert set(compared["segments"][0]) - {"segment", "buyer_weeks"} <= set(compared["sets"][0]), (
        "segments and sets use other keys"
    )
    assert all({"name", "path"} <= set(outputs[c][0]) for c in ("recall", "rank")), (
        "recall and rank name their output differently"
    )
    vocabulary, documented = _json_doc()
    open_keys = frozenset(k for k, meaning in vocabulary.items() if meaning.startswith("keyed by"))
    undocumented = sorted(
        {
            f"{name}: {key}"
            for name, outs in outputs.items()
            for out in outs
            for _, key in _json_keys(out, open_keys=open_keys)
            if key not in vocabulary
        }
    )
    assert not undocumented, f"keys missing from docs/json.md's vocabulary: {undocumented}"
    unlisted = sorted(
        {
            f"{name}: {key}"
            for name, outs in outputs.items()
            for out in outs
            for key in out
            if key not in documented.get(name, set())
        }
    )
    assert not unlisted, f"top-level keys missing from their command in docs/json.md: {unlisted}"
    assert set(documented) == set(runs), "docs/json.md lists a command the test does not run, or misses one"


def test_figures_have_four_decimals_and_seconds_one(cli, store_dir: Path, tmp_path: Path) -> None:
    """Regression: `7.5934 s` in a seconds column and `0.24261` in evaluate's pooled line."""
    import re

    from hmrec_cli import console

    with console.out.capture() as shown:
        console.show("t", ["epoch", "loss", "seconds"], [[1, 0.69314, 7.5934], [2, 0.5, 12.25]])
    assert "7.6" in shown.get() and "7.5934" not in shown.get() and "0.6931" in shown.get()
    common = ["--data", store_dir, "--cache", tmp_path / "c"]
    for week in ("1", "2"):
        assert cli("rank", "--ranker", "merge", "--candidates", "popular", "--week", week, *common, "-q")[0] == 0
    code, out, err = cli("evaluate", "--predictions", "merge", "--weeks", "2", "--week", "1", *common)
    assert code == 0 and "pooled MAP@12" in out, err
    assert not re.search(r"\d\.\d{5}", out), out


def test_counts_of_one_are_singular(cli, store_dir: Path, tmp_path: Path) -> None:
    """Regression: "1 customers in the predictions file", "1 week(s)"."""
    from hmrec_cli.data.store import Store

    one = Store.open(store_dir).customers["customer_id"][0]
    (tmp_path / "one.csv").write_text(f"customer_id,prediction\n{one},\n")
    code, out, err = cli("evaluate", "--data", store_dir, "--predictions", tmp_path / "one.csv", "--week", "1")
    assert code == 0 and "1 customer in the predictions file" in out, (out, err)
    code, out, err = cli(
        "evaluate", "--data", store_dir, "--cache", tmp_path / "c", "--candidates", "popular", "--week", "1", "-q"
    )
    assert code == 0 and "of 1 week ending" in out and "(s)" not in out, out


def test_plot_ticks_are_whole_numbers_on_whole_number_axes(cli, store_dir: Path, tmp_path: Path) -> None:
    """Regression: the recall@K plot had ticks at K = 25.8 and a training curve at epoch 2.5."""
    import re

    from hmrec_cli.reports import plots

    code, out, err = cli(
        "evaluate",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "c",
        "--candidates",
        "popular",
        "--week",
        "1",
        "--plot",
        "-q",
    )
    assert code == 0, err
    ticks = [line for line in out.splitlines() if re.fullmatch(r"\s*1\s+\d.*100\s*", line)]
    assert ticks and ticks[0].split() == ["1", "20", "40", "60", "80", "100"], out
    epochs = plots.training_curve(
        {"epochs": [{"epoch": e, "loss": 1 / e, "validation": 0.1 * e} for e in (1, 2, 3, 4)]}, "din"
    )
    figure = plots._figure(epochs)
    assert all(list(ax.get_xticks()) == [1, 2, 3, 4] for ax in figure.axes)


def test_figure_rows_have_human_labels(cli, store_dir: Path, tmp_path: Path) -> None:
    code, out, err = cli(
        "recall", "--method", "popular", "--week", "1", "--data", store_dir, "--cache", tmp_path / "c", "-q"
    )
    assert code == 0 and "candidates per customer" in out and "candidates_per_customer" not in out, out


def test_flags_are_not_shown_taking_a_value() -> None:
    """Regression: `--json <bool>`, `--write --no-write <bool>`, `--help -h <bool>` in every help."""
    import typer.main
    from typer.testing import CliRunner

    from hmrec_cli.cli import app, docs_gen

    for path, _ in _commands(typer.main.get_command(app)):
        shown = CliRunner().invoke(app, [*path, "--help"], env=docs_gen.ENV).stdout
        assert "<bool>" not in shown, f"`hmrec {' '.join(path)} --help` shows a flag taking a value"


def test_doctor_lists_every_dependency_as_required(cli) -> None:
    """Regression: lightgbm and plotext, both required by pyproject.toml, were "optional libraries"."""
    import re

    import tomllib

    from hmrec_cli.cli import docs_gen

    project = tomllib.loads((docs_gen.DOCS.parent / "pyproject.toml").read_text())["project"]
    required = {re.match(r"[A-Za-z0-9_.-]+", d)[0].lower() for d in project["dependencies"]}
    found = {f["name"]: f["section"] for f in cli.json("doctor")["findings"]}
    assert {name: found.get(name) for name in required} == dict.fromkeys(required, "libraries")
