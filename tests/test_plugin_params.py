"""`-o` and hmrec.toml's plugin tables are resolved at the edge into typed Params
(`pipeline/plugin_params.py`): the same values give the same cache key whether they come from
`-o`, the config file, the Python API or a hand-built `PluginParams`, on recall, rank, submit and
tune alike; a bad `-o` is the same one line on every command; tune reads `[pipeline]` as rank does."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmrec_cli import api
from hmrec_cli.cache import Cache
from hmrec_cli.data.splits import resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.pipeline.plugin_params import resolve, route_options
from hmrec_cli.pipeline.ranking import RankRequest, rank
from hmrec_cli.pipeline.recall import Request, run
from hmrec_cli.pipeline.settings import AUTO, PluginParams
from hmrec_cli.project_config import ProjectConfig
from hmrec_cli.registry import find


class _Key(Exception):
    """Raised with the entry a command asks its cache for: kind/method/week/key, before any work."""


@pytest.fixture
def asked(monkeypatch):
    """Every Cache answers its first lookup by raising `_Key`, so a command stops at the key."""

    def get(self, kind: str, method: str, week: str, key: str):
        raise _Key(f"{kind}/{method}/{week}/{key}")

    monkeypatch.setattr(Cache, "get", get)

    def key_of(call) -> str:
        with pytest.raises(_Key) as raised:
            call()
        return str(raised.value)

    return key_of


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hmrec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _params(plugin: str, kind: str = "retriever", **values):
    return find(kind, plugin).load().Params(**values)


def test_recall_key_is_the_same_from_o_the_config_the_api_and_typed_params(
    cli, asked, store_dir: Path, tmp_path: Path
) -> None:
    args = ["recall", "--method", "itemcf", "--data", store_dir, "--cache", tmp_path, "--week", "1", "--k", "20"]
    given = asked(lambda: cli(*args, "-o", "window_days=14", "-o", "itemcf:half_life_days=7"))
    toml = _config(tmp_path, "[plugins.itemcf]\nwindow_days = 14\nhalf_life_days = 7.0\n")
    configured = asked(lambda: cli(*args, "--config", toml))
    shop = api.open(store_dir, cache=tmp_path, config=_config(tmp_path, ""))
    from_api = asked(lambda: shop.recall("itemcf", 1, 20, window_days=14, half_life_days=7.0))
    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    typed = PluginParams({"itemcf": _params("itemcf", window_days=14, half_life_days=7.0)})
    by_hand = asked(lambda: run(store, Cache(tmp_path), Request("itemcf", week, 20, typed)))
    default = asked(lambda: cli(*args))
    assert given == configured == from_api == by_hand
    assert given != default and given.startswith("candidates/itemcf/")


def test_rank_key_is_the_same_from_o_the_config_the_api_and_typed_params(
    cli, asked, store_dir: Path, tmp_path: Path
) -> None:
    args = ["rank", "--ranker", "merge", "--candidates", "popular,itemcf", "--train-weeks", "2", "--k", "20"]
    args += ["--data", store_dir, "--cache", tmp_path, "--week", "1"]
    given = asked(lambda: cli(*args, "-o", "itemcf:window_days=14", "-o", "passes=1"))
    toml = _config(tmp_path, "[plugins.itemcf]\nwindow_days = 14\n\n[plugins.merge]\npasses = 1\n")
    configured = asked(lambda: cli(*args, "--config", toml))
    shop = api.open(store_dir, cache=tmp_path, config=_config(tmp_path, ""))
    from_api = asked(lambda: shop.rank("merge", "popular,itemcf", 1, 2, 20, **{"itemcf:window_days": 14, "passes": 1}))
    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    typed = PluginParams({"merge": _params("merge", "ranker", passes=1), "itemcf": _params("itemcf", window_days=14)})
    request = RankRequest("merge", ("popular", "itemcf"), week, 2, 20, typed)
    by_hand = asked(lambda: rank(store, Cache(tmp_path), request))
    default = asked(lambda: cli(*args))
    assert given == configured == from_api == by_hand
    assert given != default and given.startswith("rankings/merge/")


def test_submit_builds_the_sets_and_the_ranking_rank_and_recall_would(
    cli, asked, store_dir: Path, tmp_path: Path
) -> None:
    common = ["--data", store_dir, "--cache", tmp_path / "c", "-o", "itemcf:window_days=14"]
    out = ["--out", tmp_path / "s.csv"]
    listed = asked(lambda: cli("submit", "--candidates", "itemcf,popular", *out, *common))
    recalled = asked(
        lambda: cli("recall", "--method", "itemcf", "--week", "next", "--customers", "all", "--k", "12", *common)
    )
    assert listed == recalled
    ranked = ["--ranker", "merge", "--candidates", "popular,itemcf", "--train-weeks", "2", *common, "-o", "passes=1"]
    submitted = asked(lambda: cli("submit", *ranked, *out))
    by_rank = asked(lambda: cli("rank", *ranked, "--week", "next", "--customers", "all", "--k", "100"))
    assert submitted == by_rank and submitted.startswith("rankings/merge/")


def test_tune_trial_zero_is_the_recall_and_ranking_of_the_settings_in_force(
    cli, asked, store_dir: Path, tmp_path: Path
) -> None:
    common = ["--data", store_dir, "--cache", tmp_path]
    tune = ["tune", *common, "--week", "1", "--weeks", "1", "--trials", "1", "--no-write"]
    trial = asked(lambda: cli(*tune, "--method", "itemcf", "-o", "window_days=14"))
    recalled = asked(
        lambda: cli(
            "recall", "--method", "itemcf", "--week", "2", "--customers", "buyers", *common, "-o", "window_days=14"
        )
    )
    assert trial == recalled and trial.startswith("candidates/itemcf/")
    ranked = [
        "--ranker",
        "merge",
        "--candidates",
        "popular,itemcf",
        "--train-weeks",
        "2",
        "-o",
        "itemcf:window_days=14",
    ]
    trial = asked(lambda: cli(*tune, *ranked))
    by_rank = asked(lambda: cli("rank", *common, *ranked, "--week", "2", "--customers", "buyers"))
    assert trial == by_rank and trial.startswith("rankings/merge/")


def test_tune_takes_the_pipeline_table_as_rank_does(cli, asked, store_dir: Path, tmp_path: Path) -> None:
    toml = _config(
        tmp_path,
        f'[pipeline]\ndata = "{store_dir}"\ncache = "{tmp_path / "c"}"\ncandidates = "popular,itemcf"\n'
        "train_weeks = 2\nk = 30\n\n[plugins.itemcf]\nwindow_days = 14\n",
    )
    trial = asked(
        lambda: cli("tune", "--ranker", "merge", "--week", "1", "--weeks", "1", "--trials", "1", "--config", toml)
    )
    by_rank = asked(lambda: cli("rank", "--ranker", "merge", "--week", "2", "--customers", "buyers", "--config", toml))
    assert trial == by_rank
    explicit = asked(
        lambda: cli(
            "rank", "--ranker", "merge", "--candidates", "popular,itemcf", "--train-weeks", "2", "--k", "30",
            "--data", store_dir, "--cache", tmp_path / "c", "--week", "2", "--customers", "buyers",
            "-o", "itemcf:window_days=14",
        )
    )  # fmt: skip
    assert trial == explicit  # the table's values, not the built-in defaults


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("itemcf:window_dayz=3", "-o window_dayz: itemcf has no such parameter; did you mean window_days?"),
        ("itemcf:window_days=-1", "-o window_days=-1: itemcf's window_days must be"),
        ("itemcf:window_days=soon", "-o window_days=soon: expected a whole number"),
        ("nobody:window_days=3", "-o nobody:window_days=3: nobody is neither the ranker nor one of the sources"),
        ("min_positives=10", "-o min_positives=10: min_positives goes with --train-weeks auto"),
    ],
)
def test_a_bad_option_is_the_same_line_on_every_command(
    cli, store_dir: Path, tmp_path: Path, option: str, said: str
) -> None:
    where = ["--data", store_dir, "--cache", tmp_path / "c", "-o", option]
    ranked = ["--ranker", "merge", "--candidates", "popular,itemcf", "--train-weeks", "2", *where]
    lines = {
        "rank": cli("rank", *ranked),
        "submit": cli("submit", *ranked, "--out", tmp_path / "s.csv"),
        "tune": cli("tune", *ranked, "--week", "1", "--weeks", "1", "--trials", "1", "--no-write"),
        "recommend": cli("recommend", *ranked, "--customer", "x"),
    }
    for command, (code, _, err) in lines.items():
        assert code == 2 and err.startswith(f"hmrec: error: {said}") and err.count("\n") == 1, (command, err)
    assert len({err for _, _, err in lines.values()}) == 1
    shop = api.open(store_dir, cache=tmp_path, config=_config(tmp_path, ""))
    key, _, value = option.partition("=")
    with pytest.raises(InputError) as raised:
        shop.rank("merge", "popular,itemcf", 1, 2, **{key: value})
    assert f"hmrec: error: {raised.value}\n" == lines["rank"][2]


def test_recall_and_evaluate_refuse_a_bad_option_as_rank_does(cli, store_dir: Path, tmp_path: Path) -> None:
    where = ["--data", store_dir, "--cache", tmp_path, "-o", "window_dayz=3"]
    _, _, ranked = cli("rank", "--ranker", "merge", "--candidates", "itemcf", *where[:-1], "itemcf:window_dayz=3")
    for args in (["recall", "--method", "itemcf"], ["evaluate", "--candidates", "itemcf"]):
        code, _, err = cli(*args, *where)
        assert code == 2 and err == ranked, err


def test_resolve_routes_and_records_what_o_set() -> None:
    config = ProjectConfig(plugins={"itemcf": {"neighbours": 20}})
    plugins = resolve(["itemcf:window_days=14", "passes=1"], config, ("popular", "itemcf"), "merge", 2)
    assert plugins.params["itemcf"] == _params("itemcf", window_days=14, neighbours=20)
    assert plugins.params["merge"] == _params("merge", "ranker", passes=1)
    assert plugins.params["popular"] == _params("popular")
    assert plugins.options("itemcf") == ["window_days=14"] and plugins.options("popular") == []
    auto = resolve(["min_positives=500"], ProjectConfig(), ("popular",), "merge", AUTO)
    assert auto.min_positives == 500 and auto.params["merge"] == _params("merge", "ranker")
    assert route_options(["k=1", "a:x=2"], ("a", "b")) == ((), {"a": ("k=1", "x=2"), "b": ("k=1",)})
    tried = plugins.trying("itemcf", find("retriever", "itemcf").load().Params, {"neighbours": 30})
    assert tried.params["itemcf"] == _params("itemcf", window_days=14, neighbours=30)
    with pytest.raises(InputError, match="neighbours"):
        plugins.trying("itemcf", find("retriever", "itemcf").load().Params, {"neighbours": -3})
