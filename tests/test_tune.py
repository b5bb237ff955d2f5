"""`hmrec tune` and the project config (hmrec.toml): search ranges inside `valid`, precedence
(-o > config > defaults) with where each value came from, bad config files, determinism per seed,
no trial reading the evaluated week, the written file read by the next command, and the cache
answering a repeated tune."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hmrec_cli.params import AtLeast, Between, Choice, LogUniform, OneOf, Uniform, param, problems
from hmrec_cli.pipeline.search_space import dimensions
from hmrec_cli.project_config import write_table
from hmrec_cli.registry import built_in

BUILT_IN = built_in()
QUICK = ["--method", "itemcf", "--weeks", "2", "--trials", "4", "--k", "50"]  # about a second a trial on the tiny world


@pytest.mark.parametrize("plugin", BUILT_IN, ids=[f"{p.kind}-{p.name}" for p in BUILT_IN])
def test_every_search_range_lies_inside_the_valid_values(plugin) -> None:
    assert problems(plugin.load().Params) == []


def test_the_tuned_plugins_declare_ranges() -> None:
    searched = {p.name: {d.name for d in dimensions(p.load().Params)} for p in BUILT_IN}
    assert {"normalisation", "window_days", "half_life_days", "neighbours"} <= searched["itemcf"]
    assert {"embedding_size", "reg", "alpha", "epochs"} <= searched["als"]
    for name in ("bpr", "popular", "usercf", "repurchase", "merge", "din", "lgbm"):
        assert len(searched[name]) >= 2, name


def test_the_range_check_catches_a_range_outside_valid() -> None:
    @dataclass(frozen=True)
    class Bad:
        share: float = param(0.5, "d", valid=Between(0, 1, open_low=True), search=Uniform(0.0, 1.0))  # 0 is not valid
        days: int = param(7, "d", valid=AtLeast(1), search=Uniform(0, 30))
        kind: str = param("a", "d", valid=OneOf("a", "b"), search=Choice("a", "c"))
        fine: int = param(7, "d", valid=AtLeast(1), search=LogUniform(1, 30))

    assert [p.split(":")[0] for p in problems(Bad)] == ["share", "days", "kind"]


def _tune(cli, store: Path, cache: Path, *extra) -> dict:
    return cli.json("tune", *QUICK, "--data", store, "--cache", cache, *extra)


def test_precedence_and_where_each_value_comes_from(cli, store_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "hmrec.toml"
    config.write_text('[plugins.itemcf]\nneighbours = 20\nnormalisation = "cosine"\n')
    shown = cli.json("plugins", "show", "itemcf", "--config", config, "-o", "normalisation=bm25")
    by_name = {p["name"]: p for p in shown["parameters"]}
    assert (by_name["neighbours"]["value"], by_name["neighbours"]["source"]) == (20, str(config))
    assert (by_name["normalisation"]["value"], by_name["normalisation"]["source"]) == ("bm25", "-o")
    assert (by_name["window_days"]["value"], by_name["window_days"]["source"]) == (28, "default")

    made = cli.json(
        "recall",
        "--method",
        "itemcf",
        "--week",
        "2",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "c",
        "--config",
        config,
        "-o",
        "normalisation=bm25",
    )
    assert made["params"]["neighbours"] == 20 and made["params"]["normalisation"] == "bm25"
    plain = cli.json("recall", "--method", "itemcf", "--week", "2", "--data", store_dir, "--cache", tmp_path / "c")
    assert plain["params"]["neighbours"] == 50 and plain["name"] != made["name"]

    config.write_text(
        '[plugins.itemcf]\nneighbours = 21\nnormalisation = "cosine"\n'
    )  # an edited config is never served stale
    again = cli.json(
        "recall",
        "--method",
        "itemcf",
        "--week",
        "2",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "c",
        "--config",
        config,
        "-o",
        "normalisation=bm25",
    )
    assert not again["cached"] and again["params"]["neighbours"] == 21


def test_the_config_reaches_rank_and_evaluate(cli, store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """HMREC_CONFIG names the file; evaluate --candidates and rank's sources use its values, not the
    newest cached set of other parameters."""
    cache = tmp_path / "c"
    cli.json(
        "recall", "--method", "popular", "--week", "2", "--data", store_dir, "--cache", cache, "-o", "window_days=3"
    )
    config = tmp_path / "project.toml"
    config.write_text("[plugins.popular]\nwindow_days = 14\n")
    monkeypatch.setenv("HMREC_CONFIG", str(config))
    compared = cli.json("evaluate", "--candidates", "popular", "--week", "2", "--data", store_dir, "--cache", cache)
    label = compared["sets"][0]["set"]
    expected = cli.json("recall", "--method", "popular", "--week", "2", "--data", store_dir, "--cache", cache)
    assert expected["params"]["window_days"] == 14 and expected["cached"]
    assert expected["name"] in label
    ranked = cli.json(
        "rank",
        "--ranker",
        "merge",
        "--candidates",
        "popular",
        "--week",
        "2",
        "--train-weeks",
        "1",
        "--data",
        store_dir,
        "--cache",
        cache,
    )
    assert ranked["source_params"]["popular"]["window_days"] == 14


@pytest.mark.bad_input("config-file-bad")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[plugins.itemcf\n", "not valid TOML"),
        ("[plugins.itemcff]\nneighbours = 3\n", "[plugins.itemcff]: no plugin named 'itemcff'; did you mean itemcf?"),
        (
            "[plugins.itemcf]\nneighbors = 3\n",
            "plugins.itemcf.neighbors: itemcf has no such parameter; did you mean neighbours?",
        ),
        (
            "[plugins.itemcf]\nneighbours = 0\n",
            "plugins.itemcf.neighbours = 0: itemcf's neighbours must be from 1 to 1000",
        ),
        ('[plugins.itemcf]\nneighbours = "many"\n', 'plugins.itemcf.neighbours = "many": expected a whole number'),
        ("[plugin.itemcf]\nneighbours = 3\n", "plugin: unknown key"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file_and_key(
    cli, store_dir: Path, tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "hmrec.toml"
    config.write_text(text)
    for args in (
        ["plugins", "show", "popular"],
        ["recall", "--method", "popular", "--data", store_dir, "--cache", tmp_path / "c"],
        ["tune", *QUICK, "--data", store_dir, "--cache", tmp_path / "c"],
    ):
        code, _, err = cli(*args, "--config", config)
        assert code == 2 and err.count("\n") == 1 and str(config) in err and message in err, (args, err)
    assert config.read_text() == text and not (tmp_path / "c").exists()
    code, _, err = cli("plugins", "show", "popular", "--config", tmp_path / "nope.toml")
    assert code == 2 and "nope.toml: no such file" in err


def test_tune_is_deterministic_per_seed(cli, store_dir: Path, tmp_path: Path) -> None:
    first = _tune(cli, store_dir, tmp_path / "a", "--no-write", "--seed", "3")
    second = _tune(cli, store_dir, tmp_path / "b", "--no-write", "--seed", "3")
    other = _tune(cli, store_dir, tmp_path / "b", "--no-write", "--seed", "4")
    strip = lambda out: [(t["params"], t["metric"], t["se"]) for t in out["trials"]]  # noqa: E731
    assert strip(first) == strip(second) and first["best"]["params"] == second["best"]["params"]
    assert [t["params"] for t in other["trials"][1:]] != [t["params"] for t in first["trials"][1:]]
    assert first["trials"][0]["params"] == other["trials"][0]["params"]  # trial 0 is the settings in force
    assert first["best"]["metric"] >= first["trials"][0]["metric"]


def test_no_trial_sees_the_evaluated_week_or_later(cli, altered_store: Path, tmp_path: Path) -> None:
    """The store with every row of week 1 and later altered gives the same trials and best."""
    from hmrec_cli.data.splits import resolve_week
    from hmrec_cli.data.store import Store

    original = altered_store.parent / "original"
    store = Store.open(original)
    week = resolve_week("1", store.first_date, store.last_date).start.isoformat()
    a = _tune(cli, original, tmp_path / "a", "--week", week, "--no-write")
    b = _tune(cli, altered_store, tmp_path / "b", "--week", week, "--no-write")
    assert a["tuning_weeks"] == b["tuning_weeks"] and max(a["tuning_weeks"]) < week
    assert [(t["params"], t["metric"], t["se"]) for t in a["trials"]] == [
        (t["params"], t["metric"], t["se"]) for t in b["trials"]
    ]
    assert a["best"]["params"] == b["best"]["params"]
    assert a["holdout"]["start"]["metric"] != b["holdout"]["start"]["metric"]  # the hold-out week itself did change


def test_a_repeated_tune_is_answered_by_the_cache_and_writes_the_config_the_next_recall_reads(
    cli, store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default config is ./hmrec.toml
    Path("hmrec.toml").write_text("# my shop\n[plugins.popular]\nwindow_days = 14  # two weeks\n")
    first = _tune(cli, store_dir, tmp_path / "c", "--no-write")
    assert not first["written"] and not any(t["cached"] for t in first["trials"][1:])
    assert first["trials"][0]["params"]["normalisation"] == "conditional"  # the default: the config has no itemcf table
    out = _tune(cli, store_dir, tmp_path / "c", "--min-gain-se", "0")  # write whatever gains on the hold-out
    assert all(t["cached"] for t in out["trials"]) and [t["metric"] for t in out["trials"]] == [
        t["metric"] for t in first["trials"]
    ]
    assert out["written"] and out["config"] == "hmrec.toml"
    text = Path("hmrec.toml").read_text()
    assert "# my shop\n[plugins.popular]\nwindow_days = 14  # two weeks\n" in text and "[plugins.itemcf]" in text
    made = cli.json(
        "recall", "--method", "itemcf", "--week", "2", "--data", store_dir, "--cache", tmp_path / "c", "--k", "50"
    )
    best = out["best"]["params"]
    assert {k: made["params"][k] for k in best} == best
    assert cli.json("plugins", "show", "itemcf")["parameters"][0]["source"] == "hmrec.toml"


def test_pinned_parameters_are_not_searched(cli, store_dir: Path, tmp_path: Path) -> None:
    out = _tune(
        cli,
        store_dir,
        tmp_path / "c",
        "--no-write",
        "-o",
        "normalisation=count",
        "--params",
        "normalisation,neighbours",
    )
    assert out["searched"] == ["neighbours"] and out["pinned"] == {"normalisation": "count"}
    assert {t["params"].keys() == {"neighbours"} for t in out["trials"]} == {True}
    code, _, err = cli("tune", *QUICK, "--data", store_dir, "--cache", tmp_path / "c", "--params", "nope")
    assert code == 2 and "--params nope" in err


def test_writing_a_table_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    import tomllib

    path = tmp_path / "hmrec.toml"
    path.write_text(
        "# project\n[plugins.popular]\nwindow_days = 14\n\n# old tune\n[plugins.itemcf]\nneighbours = 3\n\n# keep me\n[plugins.als]\nreg = 0.1\n"
    )
    write_table(path, "itemcf", {"neighbours": 40, "normalisation": "bm25", "half_life_days": 7.5}, "tuned")
    text = path.read_text()
    assert tomllib.loads(text) == {
        "plugins": {
            "popular": {"window_days": 14},
            "itemcf": {"neighbours": 40, "normalisation": "bm25", "half_life_days": 7.5},
            "als": {"reg": 0.1},
        }
    }
    assert (
        "# project" in text
        and "# keep me\n[plugins.als]" in text
        and "# old tune" not in text
        and "# tuned\n[plugins.itemcf]" in text
    )
    write_table(path, "usercf", {"neighbours": 10})
    assert tomllib.loads(path.read_text())["plugins"]["usercf"] == {"neighbours": 10}
    assert [p.name for p in tmp_path.iterdir()] == ["hmrec.toml"]  # no temp file left


def test_ranker_tuning_runs_through_rank(cli, store_dir: Path, tmp_path: Path) -> None:
    out = cli.json(
        "tune",
        "--ranker",
        "merge",
        "--candidates",
        "popular,repurchase",
        "--weeks",
        "1",
        "--trials",
        "2",
        "--train-weeks",
        "1",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "c",
        "--no-write",
    )
    assert out["metric"] == "map@12" and out["searched"] == ["c", "passes"] and len(out["trials"]) == 2
    assert all(
        e.startswith("merge@") for t in out["trials"] for e in t["entries"]
    )  # a ranker's trial is a cached ranking
