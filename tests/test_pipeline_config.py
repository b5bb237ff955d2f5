"""A pipeline in the config: `[pipeline]` in hmrec.toml stands in for the flags rank, submit,
evaluate and recall would otherwise repeat (flag > environment variable > config > default), and
the card's four commands run as typed on a store at the default path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hmrec_cli.pipeline.source_choice import POLICY

LIGHT = "[plugins.tdm]\nepochs = 1\nweeks = 1\n\n[plugins.din]\nepochs = 1\nvalid_customers = 200\n"

START = POLICY.start  # the default sources


def _config(folder: Path, text: str) -> None:
    (folder / "hmrec.toml").write_text(text, encoding="utf-8")


def test_a_pipeline_table_alone_runs_rank_and_submit(cli, store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _config(
        tmp_path,
        f'[pipeline]\ndata = "{store_dir}"\ncache = "c"\ncandidates = "popular,repurchase"\nranker = "merge"\ntrain_weeks = 2\n',
    )
    ranked = cli.json("rank", "-q")
    assert (
        ranked["method"] == "merge"
        and ranked["sources"] == ["popular", "repurchase"]
        and len(ranked["train_weeks"]) == 2
    )
    assert Path(ranked["path"]).resolve().is_relative_to((tmp_path / "c").resolve())
    code, out, err = cli("submit", "--out", "s.csv", "-q")
    assert code == 0 and (tmp_path / "s.csv").is_file(), err
    command = json.loads((tmp_path / "s.csv.json").read_text())["command"]
    assert (command["ranker"], command["candidates"], command["train_weeks"]) == ("merge", "popular,repurchase", 2)


def test_flag_beats_environment_beats_config_beats_default(cli, store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _config(
        tmp_path,
        f'[pipeline]\ndata = "{store_dir}"\ncache = "c"\ncandidates = "popular,repurchase"\nranker = "merge"\nk = 50\n\n[plugins.popular]\nwindow_days = 5\n',
    )
    monkeypatch.setenv("HMREC_CACHE", str(tmp_path / "from-env"))
    shown = cli.json("config", "show", "--k", "30")
    where = {p["name"]: (p["value"], p["source"]) for p in shown["pipeline"]}
    assert where == {
        "data": (str(store_dir), "config"),
        "cache": (str(tmp_path / "from-env"), "env"),
        "candidates": ("popular,repurchase", "config"),
        "ranker": ("merge", "config"),
        "train_weeks": ("4", "default"),
        "drop_bought": ("auto", "default"),
        "k": (30, "flag"),
    }
    assert shown["parameters"] == [{"plugin": "popular", "name": "window_days", "value": 5, "source": "config"}]
    ranked = cli.json("rank", "--candidates", "popular", "--k", "30", "--week", "1", "-q")
    assert ranked["sources"] == ["popular"] and ranked["k"] == 30
    assert Path(ranked["path"]).resolve().is_relative_to((tmp_path / "from-env").resolve())
    assert cli.json("rank", "--week", "1", "-q")["k"] == 50  # the config's k where no flag gives one
    assert {p["source"] for p in cli.json("config", "show")["pipeline"]} == {"env", "config", "default"}
    code, out, _ = cli("config", "show", "--ranker", "din")
    assert code == 0 and any(line.split()[:3] == ["ranker", "din", "flag"] for line in out.splitlines()), out


def test_with_nothing_configured_rank_fuses_the_four_default_sources(
    cli, store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ranked = cli.json("rank", "--ranker", "merge", "--data", store_dir, "--week", "1", "-q")
    assert tuple(ranked["sources"]) == START
    shown = {p["name"]: p for p in cli.json("config", "show")["pipeline"]}
    assert shown["candidates"] == {"name": "candidates", "value": ",".join(START), "source": "default"}


def test_the_cards_four_commands_run_as_typed(cli, store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """The store at the default path (hm), the cache at the default (cache), tdm and din kept light in hmrec.toml."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(store_dir, tmp_path / "hm")
    _config(tmp_path, LIGHT)
    for typed in ("recall --method tdm", "rank --ranker din", "evaluate --week last", "submit"):
        code, out, err = cli(*typed.split())
        assert code == 0, (typed, err)
        if typed.startswith("evaluate"):
            listed = out
    assert "tdm@" in listed and "din@" in listed and all(f"{s}@" in listed for s in START), listed
    assert (tmp_path / "submission.csv").is_file() and (tmp_path / "cache" / "rankings" / "din").is_dir()


def test_evaluate_with_nothing_cached_hints_a_rank_that_works(
    cli, store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    import shlex

    monkeypatch.chdir(tmp_path)
    common = ["--data", store_dir, "--cache", tmp_path / "c", "--week", "1"]
    code, out, err = cli("evaluate", *common)
    assert code == 0 and out.count("\n") == 1 and "nothing cached" in out, (out, err)
    hint = shlex.split(out.split("`")[1])
    assert cli(*hint[1:], "-q")[0] == 0
    shown = cli.json("evaluate", *common)
    kinds = {e["name"].split("@")[0]: e["kind"] for e in shown["entries"]}
    assert kinds == {"merge": "rankings", **dict.fromkeys(START, "candidates")}
    assert all(e["map@12"] is not None and e["created"] for e in shown["entries"])
    assert all((e["recall@100"] is None) == (e["kind"] == "rankings") for e in shown["entries"])


@pytest.mark.bad_input("pipeline-config-bad")
@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("k = 0", "hmrec.toml: pipeline.k = 0: expected a whole number, 1 to 65535"),
        ('k = "ten"', 'hmrec.toml: pipeline.k = "ten": expected a whole number'),
        ("train_weeks = 0", "hmrec.toml: pipeline.train_weeks = 0: expected a whole number of weeks"),
        ('drop_bought = "maybe"', 'hmrec.toml: pipeline.drop_bought = "maybe": expected "auto", "yes" or "no"'),
        (
            'ranker = "itemcf"',
            "hmrec.toml: pipeline.ranker = \"itemcf\": no ranker named 'itemcf': itemcf is a retriever",
        ),
        (
            'candidates = "popular,itemcff"',
            "hmrec.toml: pipeline.candidates = \"popular,itemcff\": no retriever named 'itemcff'; did you mean itemcf?",
        ),
        ('candidates = ""', 'hmrec.toml: pipeline.candidates = "": expected comma-separated retriever names'),
        ("data = 3", "hmrec.toml: pipeline.data = 3: expected a folder name"),
        (
            'ranker_name = "din"',
            'hmrec.toml: pipeline.ranker_name = "din": unknown key; [pipeline] takes data, cache, candidates',
        ),
    ],
)
def test_bad_pipeline_values_exit_2_in_one_line(cli, tmp_path: Path, monkeypatch, table: str, says: str) -> None:
    monkeypatch.chdir(tmp_path)
    _config(tmp_path, f"[pipeline]\n{table}\n")
    for command in (["rank"], ["submit"], ["evaluate"], ["recall", "--method", "popular"], ["config", "show"]):
        code, out, err = cli(*command)
        assert code == 2 and out == "" and err.count("\n") == 1, (command, err)
        assert err.startswith(f"hmrec: error: {says}"), (command, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hmrec.toml"]  # nothing written
