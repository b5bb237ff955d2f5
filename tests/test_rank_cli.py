"""`hmrec rank`, `evaluate --predictions RANKER` and `submit --ranker` as a user types them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.data.store import Store

QUICK_DIN = [
    "-o",
    "epochs=1",
    "-o",
    "history_length=8",
    "-o",
    "hidden=16",
    "-o",
    "embedding_size=8",
    "-o",
    "side_embedding_size=4",
]


@pytest.fixture
def ranked(cli, store_dir: Path, tmp_path: Path) -> tuple[Path, dict]:
    cache = tmp_path / "cache"
    m = cli.json(
        "rank",
        "--ranker",
        "din",
        "--candidates",
        "popular,repurchase",
        "--data",
        store_dir,
        "--cache",
        cache,
        "--week",
        "1",
        "--train-weeks",
        "2",
        "--k",
        "30",
        *QUICK_DIN,
        "--device",
        "cpu",
    )
    return cache, m


def test_rank_reports_and_evaluate_scores_the_cached_ranking(cli, store_dir: Path, ranked) -> None:
    cache, m = ranked
    assert m["name"].startswith("din@") and len(m["train_weeks"]) == 2 and m["train_weeks"] < [m["source_sets"][0]]
    assert set(m["figures"]["sources_map@12"]) == {"popular", "repurchase"}
    assert m["training"]["epochs"][0]["examples_per_s"] > 0 and m["device"] == "cpu"
    assert m["dropped_bought"] == []  # customers here buy articles again: --drop-bought auto keeps them
    evaluated = cli.json("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--predictions", "din")
    assert evaluated["map@12"] == pytest.approx(m["figures"]["map@12"])
    by_key = cli.json("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--predictions", m["name"])
    assert by_key["map@12"] == evaluated["map@12"]
    code, out, err = cli("evaluate", "--data", store_dir, "--cache", cache, "--week", "1", "--predictions", "din")
    assert code == 0 and f"ranking {m['name']}" in err  # says which ranking it scored
    again = cli.json(
        "rank",
        "--ranker",
        "din",
        "--candidates",
        "popular,repurchase",
        "--data",
        store_dir,
        "--cache",
        cache,
        "--week",
        "1",
        "--train-weeks",
        "2",
        "--k",
        "30",
        *QUICK_DIN,
        "--device",
        "cpu",
    )
    assert again["name"] == m["name"] and again["created"] == m["created"]  # served from the cache
    assert again["cached"] is True and m["cached"] is False
    png = cache.parent / "training.png"
    code, out, _ = cli(
        "rank",
        "--ranker",
        "din",
        "--candidates",
        "popular,repurchase",
        "--data",
        store_dir,
        "--cache",
        cache,
        "--week",
        "1",
        "--train-weeks",
        "2",
        "--k",
        "30",
        *QUICK_DIN,
        "--device",
        "cpu",
        "--plot",
        "--plot-out",
        png,
    )
    assert code == 0 and "from cache (computed" in out and "trained in" not in out
    assert "validation MAP@12" in out and png.read_bytes().startswith(
        b"\x89PNG"
    )  # the training curve, from the cached log
    page = cache.parent / "report.html"
    code, _, err = cli("report", "--data", store_dir, "--cache", cache, "--week", "1", "--out", page)
    html = page.read_text()
    assert (
        code == 0 and m["name"] in html and "popular@" in html and html.count("<svg") >= 2
    )  # recall curves, training curve
    assert "<script" not in html and "http" not in html.split("<svg", 1)[0]  # self-contained
    hint = out.split("score it with:\n", 1)[1].splitlines()[0].strip()  # one line, however narrow the terminal
    code, plain, _ = cli(
        "rank",
        "--ranker",
        "din",
        "--candidates",
        "popular,repurchase",
        "--data",
        store_dir,
        "--cache",
        cache,
        "--week",
        "1",
        "--train-weeks",
        "2",
        "--k",
        "30",
        *QUICK_DIN,
        "--device",
        "cpu",
    )
    epochs = plain.split("Training (validation", 1)[1]
    assert (
        code == 0 and "best" in epochs and f"{m['training']['epochs'][0]['loss']:.4f}" in epochs
    )  # the per-epoch table
    assert hint == f"hmrec evaluate --week {m['week']} --predictions {m['name']} --data {store_dir} --cache {cache}"


def test_evaluate_a_ranking_that_was_never_made(cli, store_dir: Path, tmp_path: Path) -> None:
    code, _, err = cli("evaluate", "--data", store_dir, "--cache", tmp_path, "--week", "2", "--predictions", "din")
    assert code == 2 and err.count("\n") == 1 and "no cached din ranking" in err and "hmrec rank --ranker din" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ranker", "nope"], "no ranker named 'nope'"),
        (["-o", "depth=3"], "din has no such parameter"),
        (["-o", "itemcf:window_days=3"], "neither the ranker nor one of the sources"),
        (["-o", "history=lstm"], "-o history=lstm"),
        (["--candidates", "popular,nosuch"], "no retriever named 'nosuch'"),
        (["--train-weeks", "400"], "--train-weeks 400"),
        (["--train-weeks", "soon"], "--train-weeks soon: expected a number of weeks or auto"),
        (["-o", "min_positives=10"], "min_positives goes with --train-weeks auto"),
        (["--train-weeks", "auto", "-o", "min_positives=many"], "-o min_positives=many"),
        (["--candidates", "popular,popular"], "named twice"),
        (["--device", "tpu"], "--device tpu"),
        (["--drop-bought", "maybe"], "--drop-bought maybe: expected one of auto, yes, no"),
    ],
)
def test_bad_rank_options_fail_in_one_line(cli, store_dir: Path, tmp_path: Path, args: list[str], message: str) -> None:
    base = {"--ranker": "din", "--candidates": "popular,repurchase"}
    for flag in ("--ranker", "--candidates"):
        if flag in args:
            base[flag] = args[args.index(flag) + 1]
            args = args[: args.index(flag)] + args[args.index(flag) + 2 :]
    flat = [x for pair in base.items() for x in pair]
    code, _, err = cli(
        "rank", *flat, "--data", store_dir, "--cache", tmp_path, "--week", "1", "--train-weeks", "2", *args
    )
    assert code == 2 and err.count("\n") == 1 and message in err, err


def no_repeat_store(cli, raw: Path, tmp_path: Path) -> Path:
    """The test world with every repeat of a (customer, article) after its first day removed."""
    tx = pl.read_csv(raw / "transactions_train.csv", infer_schema=False)
    first_day = pl.col("t_dat") == pl.col("t_dat").min().over("customer_id", "article_id")
    tx.filter(first_day).unique(["customer_id", "article_id"], keep="first", maintain_order=True).write_csv(
        raw / "transactions_train.csv"
    )
    store_dir = tmp_path / "hm"
    code, _, err = cli("data", "ingest", raw, "--data", store_dir, "-q")
    assert code == 0, err
    return store_dir


def bought_pairs(store: Store, week: str) -> pl.DataFrame:
    return (
        store.transactions.filter(pl.col("t_dat") < pl.lit(week).str.to_date()).select("customer", "article").unique()
    )


def test_drop_bought_leaves_out_what_each_customer_bought_before_on_a_log_without_repeats(
    cli, raw: Path, tmp_path: Path
) -> None:
    store_dir = no_repeat_store(cli, raw, tmp_path)
    store = Store.open(store_dir)
    for mode in ("auto", "no"):
        m = cli.json(
            "rank",
            "--ranker",
            "merge",
            "--candidates",
            "popular,itemcf",
            "--data",
            store_dir,
            "--cache",
            tmp_path / "cache",
            "--week",
            "1",
            "--train-weeks",
            "2",
            "--k",
            "30",
            "-o",
            "passes=1",
            "--drop-bought",
            mode,
        )
        week = m["week"]
        again = pl.read_parquet(m["path"]).join(bought_pairs(store, week), on=["customer", "article"]).height
        if mode == "auto":  # no repeats: every week's union leaves out what its customers bought before
            assert m["dropped_bought"] == [*m["train_weeks"], week] and again == 0
        else:
            assert m["dropped_bought"] == [] and again > 0


def test_a_candidate_set_that_drops_what_was_bought_is_refilled_to_k(cli, raw: Path, tmp_path: Path) -> None:
    """`recall --drop-bought`: the bought articles leave and the retriever's next ones take their
    places, so a no-repeat log's set is still k deep; `no` keeps them, in another cache entry."""
    store_dir = no_repeat_store(cli, raw, tmp_path)
    store = Store.open(store_dir)
    common = [
        "recall",
        "--method",
        "itemcf",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "cache",
        "--week",
        "1",
        "--k",
        "20",
        "--customers",
        "buyers",
    ]
    kept = cli.json(*common, "--drop-bought", "no")
    auto = cli.json(*common)
    assert kept["dropped_bought"] is False and auto["dropped_bought"] is True and auto["name"] != kept["name"]
    bought = bought_pairs(store, Path(auto["path"]).parent.name)  # the cache files sets under their week
    with_bought, without = pl.read_parquet(kept["path"]), pl.read_parquet(auto["path"])
    assert with_bought.join(bought, on=["customer", "article"]).height > 0
    assert without.join(bought, on=["customer", "article"]).height == 0
    kept_unbought = with_bought.join(bought, on=["customer", "article"], how="anti").select("customer", "article")
    assert (
        kept_unbought.join(without, on=["customer", "article"], how="anti").height == 0
    )  # the same list, bought ones out, more behind
    assert (
        without.height > kept_unbought.height and without.group_by("customer").len()["len"].max() == 20
    )  # refilled, not just cut


def test_submit_without_a_ranker_drops_what_was_bought_from_the_methods_lists(cli, raw: Path, tmp_path: Path) -> None:
    store_dir = no_repeat_store(cli, raw, tmp_path)
    store = Store.open(store_dir)
    ids = store.articles.select("article", article_id=pl.col("article_id").cast(pl.String).str.zfill(10))
    again = {}
    for mode in ("yes", "no"):
        out = tmp_path / f"{mode}.csv"
        code, _, err = cli(
            "submit",
            "--candidates",
            "itemcf,popular",
            "--drop-bought",
            mode,
            "--data",
            store_dir,
            "--cache",
            tmp_path / "cache",
            "--out",
            out,
            "-q",
        )
        assert code == 0, err
        pairs = (
            pl.read_csv(out, infer_schema=False)
            .with_columns(pl.col("prediction").str.split(" "))
            .explode("prediction")
            .join(store.customers.select("customer", "customer_id"), on="customer_id")
            .join(ids, left_on="prediction", right_on="article_id")
        )
        again[mode] = pairs.join(bought_pairs(store, "2100-01-01"), on=["customer", "article"]).height
    assert again["yes"] < again["no"]


def test_submit_with_a_ranker_writes_a_valid_submission(cli, store_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub.csv"
    code, stdout, err = cli(
        "submit",
        "--ranker",
        "merge",
        "--candidates",
        "repurchase,popular",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "cache",
        "--train-weeks",
        "2",
        "-o",
        "passes=1",
        "--out",
        out,
        "-q",
    )
    assert code == 0, err
    sub = pl.read_csv(out, infer_schema=False)
    store = Store.open(store_dir)
    assert sub.height == store.submission_customers.len()
    assert (sub["prediction"].str.split(" ").list.len() == 12).all()
    ranking = next((tmp_path / "cache" / "rankings" / "merge").glob("*/*.parquet"))
    assert ranking.parent.name == (store.last_date + timedelta(days=1)).isoformat()  # week next


def test_plugins_lists_rankers_and_their_parameters(cli) -> None:
    listed = cli.json("plugins")["plugins"]
    assert {("ranker", "din"), ("ranker", "merge")} <= {(p["kind"], p["name"]) for p in listed}
    shown = cli.json("plugins", "show", "din")
    assert shown["kind"] == "ranker" and {"history_length", "negative_share", "loss"} <= {
        p["name"] for p in shown["parameters"]
    }


def test_cache_lists_rankings_and_clearing_removes_their_checkpoints(cli, ranked) -> None:
    cache, m = ranked
    listed = cli.json("cache", "ls", "--cache", cache)["entries"]
    assert any(e["kind"] == "rankings" and e["name"] == m["name"] for e in listed)
    assert len(list((cache / "models" / "din").glob("*/*.pt"))) == 1
    code, out, _ = cli("cache", "clear", "--cache", cache, "--method", "din")
    assert code == 0 and "removed 1" in out
    assert not list((cache / "models" / "din").glob("*/*.pt")) and not list((cache / "rankings").glob("*/*/*.parquet"))


@pytest.mark.parametrize("option", ["epochs=0", "hidden=200,x", "negative_share=0", "batch_size=1"])
def test_bad_din_parameters_fail_before_any_work(cli, store_dir: Path, tmp_path: Path, option: str) -> None:
    code, _, err = cli(
        "rank",
        "--ranker",
        "din",
        "--candidates",
        "popular",
        "--data",
        store_dir,
        "--cache",
        tmp_path,
        "--week",
        "1",
        "--train-weeks",
        "2",
        "-o",
        option,
    )
    assert code == 2 and err.count("\n") == 1 and f"-o {option.split('=')[0]}=" in err, err
    assert not (tmp_path / "candidates").exists()  # refused before any source was fitted


def lgbm_on_week_1(store_dir: Path, cache: Path) -> list:
    """`hmrec rank --ranker lgbm` on the tiny store's week 1, two training weeks, at most 20 trees,
    kept on any gain (the newest week's 219 buyers with a hit show +0.0056 +- 0.0032, under 2 SE)."""
    return [
        "rank",
        "--ranker",
        "lgbm",
        "--candidates",
        "popular,repurchase",
        "--data",
        store_dir,
        "--cache",
        cache,
        "--week",
        "1",
        "--train-weeks",
        "2",
        "--k",
        "30",
        "-o",
        "trees=20",
        "-o",
        "min_gain_se=0",
    ]


def test_lgbm_reports_feature_importance_and_the_newest_training_week(cli, store_dir: Path, tmp_path: Path) -> None:
    args = lgbm_on_week_1(store_dir, tmp_path)
    m = cli.json(*args)
    importance = m["training"]["feature_importance"]
    assert set(importance) >= {"popular_rank", "repurchase_score", "fused_rank", "sales_7d", "bought_product"} and sum(
        importance.values()
    ) == pytest.approx(1, abs=1e-3)
    assert 1 <= m["training"]["trees"] <= 2 * 20  # at most 20 picked, boosted again on both weeks
    newest = m["newest_training_week"]
    assert newest["week"] == m["train_weeks"][-1] and newest["ranker"] == "lgbm"
    assert {"lgbm", "merge"} <= newest.keys() and set(newest["sources"]) == {"popular", "repurchase"}
    merge = cli.json(
        *[a if a != "lgbm" else "merge" for a in args[:-4]]
    )  # lgbm's own copy of merge's fusion, not a refit, gave its figure
    assert merge["newest_training_week"]["merge"] == pytest.approx(newest["merge"], abs=1e-12)
    code, out, _ = cli(*args)  # cached: the tables come from the manifest
    assert code == 0 and "Strongest features" in out and f"Newest training week {newest['week']}" in out


def test_lgbm_score_top_scores_only_merges_first_candidates(cli, store_dir: Path, tmp_path: Path) -> None:
    """With -o score_top=N the trees re-order only each customer's first N candidates in merge's
    order: at N=12 the 12 predicted are merge's 12, at N above every customer's count nothing changes."""
    args = [
        "--candidates",
        "popular,repurchase",
        "--data",
        store_dir,
        "--cache",
        tmp_path,
        "--week",
        "1",
        "--train-weeks",
        "2",
        "--k",
        "30",
    ]
    read = lambda m: pl.read_parquet(m["path"]).sort("customer", "rank")  # noqa: E731
    full = read(cli.json("rank", "--ranker", "lgbm", *args, "-o", "trees=20", "-o", "min_gain_se=0"))
    assert read(
        cli.json("rank", "--ranker", "lgbm", *args, "-o", "trees=20", "-o", "min_gain_se=0", "-o", "score_top=1000")
    ).equals(full)
    twelve = read(
        cli.json("rank", "--ranker", "lgbm", *args, "-o", "trees=20", "-o", "min_gain_se=0", "-o", "score_top=12")
    )
    merge = read(cli.json("rank", "--ranker", "merge", *args))
    as_sets = lambda r: r.group_by("customer").agg(pl.col("article").sort()).sort("customer")  # noqa: E731
    assert as_sets(twelve).equals(as_sets(merge)) and not twelve.equals(merge)
    code, out, _ = cli("rank", "--ranker", "merge", *args)  # from the cache: merge's newest-week row once, not twice
    assert code == 0 and len(re.findall(r"^\s*merge\s+0\.\d+\s*$", out, flags=re.M)) == 1, out


def test_lgbm_boosts_its_kept_trees_again_on_every_training_week(cli, store_dir: Path, tmp_path: Path) -> None:
    """refit (the default): once the newest training week picked the trees and kept them, they are
    boosted again on all the training weeks, as many as it picked scaled by the weeks (2 weeks: twice),
    but only where that week has refit_buyers buyers with a hit: the tiny store's week has fewer."""
    args = lgbm_on_week_1(store_dir, tmp_path)
    once = cli.json(*args, "-o", "refit=false")
    again = cli.json(*args, "-o", "refit_buyers=1")
    assert "refit" not in once["training"] and once["training"]["trees"] >= 1
    assert again["training"]["trees"] == 2 * once["training"]["trees"] and "boosted again" in again["training"]["refit"]
    read = lambda m: pl.read_parquet(m["path"]).sort("customer", "rank")  # noqa: E731
    assert not read(again).equals(read(once))
    small = cli.json(*args)  # the default: too few buyers in the newest week to trust its number of trees
    assert small["training"]["trees"] == once["training"]["trees"]
    assert small["training"]["refit"].startswith("none: the newest training week's ")
    assert "fewer than refit_buyers=2000" in small["training"]["refit"]
    assert read(small).equals(read(once))
