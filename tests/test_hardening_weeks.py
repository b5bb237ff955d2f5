"""Weeks at the edges (issue 26, items 2, 5, 6, 9, 10): a week without purchases in the history
or as the target, --week values past any range, logs shorter than a week, unknown article ids in
a predictions file, and a catalogue of fewer than 12 articles."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.data.ingest import ingest, locate_sources
from hmrec_cli.data.splits import resolve_week
from hmrec_cli.data.store import Store


def raw_copy(raw_master: Path, dest: Path) -> Path:
    """The tiny world's Kaggle files without the oracle (edited rows would contradict it)."""
    shutil.copytree(raw_master, dest)
    (dest / "oracle.parquet").unlink()
    return dest


def keep_rows(raw: Path, keep: pl.Expr) -> None:
    """Keep only the transactions for which `keep` holds (t_dat parsed as a date)."""
    tx = pl.read_csv(raw / "transactions_train.csv", infer_schema=False)
    tx.filter(keep.fill_null(True)).write_csv(raw / "transactions_train.csv")


def day(column: str = "t_dat") -> pl.Expr:
    return pl.col(column).str.to_date()


@pytest.fixture(scope="module")
def gap(raw_master: Path, store_dir: Path, tmp_path_factory) -> tuple[Path, object]:
    """A store whose week 2 (a closed shop, within ingest's 28-day gap limit) has no purchases,
    and that week."""
    folder = tmp_path_factory.mktemp("gap")
    original = Store.open(store_dir)
    closed = resolve_week("2", original.first_date, original.last_date)
    raw = raw_copy(raw_master, folder / "raw")
    keep_rows(raw, ~day().is_between(closed.start, closed.end))
    return _ingest(raw, folder / "hm"), closed


def _ingest(raw: Path, dest: Path) -> Path:
    ingest(locate_sources(raw, {}), dest)
    return dest


@pytest.mark.bad_input("empty-week")
def test_a_week_without_purchases_in_the_history_is_learned_across(cli, gap, tmp_path: Path) -> None:
    store, closed = gap
    cache = tmp_path / "cache"
    common = ("--data", store, "--cache", cache, "--week", "1")
    popular = cli.json("recall", "--method", "popular", *common)
    assert popular["figures"]["candidates_per_customer"] == 100  # its 7 days before the week are the closed ones
    for ranker in ("merge", "lgbm"):
        code, _, err = cli(
            "rank", "--ranker", ranker, "--candidates", "popular,repurchase", "--train-weeks", "3", *common
        )
        assert code == 0, err
        assert f"no purchases in the training week(s) starting {closed.start}: trained on the other 2" in err
        ranking = cli.json(
            "rank", "--ranker", ranker, "--candidates", "popular,repurchase", "--train-weeks", "3", *common
        )
        assert ranking["empty_train_weeks"] == [str(closed.start)]
        assert str(closed.start) not in ranking["train_weeks"] and len(ranking["train_weeks"]) == 2
        assert ranking["figures"]["map@12"] > 0
    pooled = cli.json("evaluate", "--candidates", "popular,repurchase", "--weeks", "3", *common)
    single = cli.json("evaluate", "--candidates", "popular,repurchase", "--weeks", "1", *common)
    assert pooled["sets"][0]["buyers"] > single["sets"][0]["buyers"] > 0
    code, _, err = cli("tune", "--method", "popular", "--weeks", "2", "--trials", "2", "--no-write", "-q", *common)
    assert code == 0, err
    code, _, err = cli(
        "tune",
        "--ranker",
        "merge",
        "--candidates",
        "popular,repurchase",
        "--train-weeks",
        "2",
        "--weeks",
        "2",
        "--trials",
        "2",
        "--no-write",
        "-q",
        *common,
    )
    assert code == 0, err


@pytest.mark.bad_input("empty-week")
def test_a_target_week_without_buyers_is_reported_with_no_score(cli, gap, tmp_path: Path) -> None:
    store, closed = gap
    common = ("--data", store, "--cache", tmp_path / "cache", "--week", str(closed.start))
    recalled = cli.json("recall", "--method", "repurchase", *common)
    assert recalled["figures"]["buyers"] == 0 and recalled["figures"]["map@12"] is None
    code, out, _ = cli("recall", "--method", "repurchase", *common)
    assert code == 0 and "0 buyers: nobody bought anything in the week" in out
    ranked = cli.json("rank", "--ranker", "merge", "--candidates", "popular,repurchase", "--train-weeks", "2", *common)
    assert ranked["figures"]["buyers"] == 0 and ranked["figures"]["map@12"] is None
    sets = cli.json("evaluate", "--candidates", "popular,repurchase", *common)["sets"]
    assert [(s["buyers"], s["map@12"]) for s in sets] == [(0, None)] * 3
    code, out, _ = cli("evaluate", "--candidates", "popular", *common)
    assert code == 0 and "0 buyers" in out
    tuned = cli.json("tune", "--method", "repurchase", "--weeks", "1", "--trials", "2", "--no-write", *common)
    assert tuned["holdout"]["best"]["customer_weeks"] == 0 and tuned["holdout"]["best"]["metric"] is None
    code, out, _ = cli("tune", "--method", "repurchase", "--weeks", "1", "--trials", "2", "--no-write", "-q", *common)
    assert code == 0 and "the hold-out has no buyers" in out and "nan" not in out
    customer = Store.open(store).customers["customer_id"][0]
    (tmp_path / "p.csv").write_text(
        f"customer_id,prediction\n{customer},{Store.open(store).articles['article_id'][0]}\n"
    )
    scored = cli.json("evaluate", "--predictions", tmp_path / "p.csv", *common)
    assert scored["scored_customers"] == 0 and scored["map@12"] is None


@pytest.mark.bad_input("empty-week")
def test_a_week_whose_only_buyer_has_no_candidate_hit_is_learned_across(
    cli, raw_master: Path, store_dir: Path, tmp_path: Path
) -> None:
    """The shop reopens for one sale of an article nobody bought before: a week with a buyer but
    no purchase among any source's candidates (nothing for merge's tuning to score)."""
    original = Store.open(store_dir)
    quiet = resolve_week("2", original.first_date, original.last_date)
    new_article = original.articles.filter(~pl.col("article").is_in(original.transactions["article"].implode()))[
        "article_id"
    ][0]
    raw = raw_copy(raw_master, tmp_path / "raw")
    tx = pl.read_csv(raw / "transactions_train.csv", infer_schema=False)
    inside = day().is_between(quiet.start, quiet.end)
    lone = tx.filter(inside).head(1).with_columns(article_id=pl.lit(f"{new_article:010d}"))
    pl.concat([tx.filter(~inside), lone]).sort("t_dat").write_csv(raw / "transactions_train.csv")
    store = _ingest(raw, tmp_path / "hm")
    ranking = cli.json(
        "rank",
        "--ranker",
        "merge",
        "--candidates",
        "popular,repurchase",
        "--train-weeks",
        "3",
        "--week",
        "1",
        "--data",
        store,
        "--cache",
        tmp_path / "cache",
    )
    assert str(quiet.start) in ranking["train_weeks"] and ranking["figures"]["map@12"] > 0


@pytest.mark.bad_input("week-out-of-range")
@pytest.mark.parametrize("spec", ["9999-12-31", "999999999", "²", "1" + "0" * 30])
def test_a_week_past_any_range_names_the_weeks_that_exist(cli, store_dir: Path, tmp_path: Path, spec: str) -> None:
    code, _, err = cli(
        "recall", "--method", "popular", "--data", store_dir, "--cache", tmp_path / "cache", "--week", spec
    )
    assert code == 2, err
    assert err.startswith("hmrec: error: --week ") and len(err.strip().splitlines()) == 1
    assert "weeks with history: last (= 0, from 2020-09-16) back to 18 (from 2020-05-13), or next (2020-09-23)" in err
    assert not (tmp_path / "cache").exists()


@pytest.mark.bad_input("week-out-of-range")
def test_rolling_weeks_before_the_data_name_the_first_week_that_exists(cli, store_dir: Path, tmp_path: Path) -> None:
    for source in (("--candidates", "popular"), ("--predictions-dir", tmp_path)):
        code, _, err = cli("evaluate", "--data", store_dir, "--cache", tmp_path / "cache", "--weeks", "20", *source)
        assert code == 2
        assert err.strip().splitlines() == [
            "hmrec: error: --weeks 20: the data starts 2020-05-06, so the first week with history is 2020-05-13; at most --weeks 19 ending at the week 2020-09-16"
        ]
    assert (
        len(
            cli.json(
                "evaluate",
                "--data",
                store_dir,
                "--cache",
                tmp_path / "cache",
                "--weeks",
                "19",
                "--candidates",
                "popular",
            )["weeks"]
        )
        == 19
    )


@pytest.mark.bad_input("week-out-of-range")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("rank", "--ranker", "merge", "--candidates", "popular", "--train-weeks", "99999999999999999999"),
            "--train-weeks 99999999999999999999: the data starts 2020-05-06, so at most 18 weeks before the week 2020-09-16 have history to learn from",
        ),
        (
            ("rank", "--ranker", "merge", "--candidates", "popular", "--train-weeks", "²"),
            "--train-weeks ²: expected a number of weeks or auto",
        ),
        (
            ("tune", "--method", "popular", "--weeks", "40"),
            "--weeks 40: the data starts 2020-05-06, so at most 18 weeks before the week 2020-09-16 have history to tune on; use fewer weeks or a later --week",
        ),
        (
            ("tune", "--method", "popular", "--week", "1", "--weeks", "1", "--holdout-weeks", "40"),
            "--holdout-weeks 40: the data ends on 2020-09-22, so at most 2 weeks from 2020-09-09 have purchases to score",
        ),
    ],
)
def test_counts_of_weeks_past_the_data_are_one_line(
    cli, store_dir: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, _, err = cli(*args, "--data", store_dir, "--cache", tmp_path / "cache")
    assert code == 2
    assert err.strip().splitlines() == [f"hmrec: error: {message}"]


@pytest.mark.bad_input("week-out-of-range")
def test_week_last_on_a_log_shorter_than_a_week_has_no_history(cli, raw_master: Path, tmp_path: Path) -> None:
    raw = raw_copy(raw_master, tmp_path / "raw")
    keep_rows(raw, day() >= date(2020, 9, 18))  # five days, 2020-09-18 .. 2020-09-22
    store = _ingest(raw, tmp_path / "hm")
    for spec in ("last", "0", "2020-09-16"):
        code, _, err = cli(
            "recall", "--method", "popular", "--data", store, "--cache", tmp_path / "cache", "--week", spec
        )
        assert code == 2
        assert err.strip().splitlines() == [
            (
                f"hmrec: error: --week {spec}: the week starts 2020-09-16, but the data starts 2020-09-18; no history to learn from; "
                "the data (2020-09-18 .. 2020-09-22) is shorter than a week, so only next (2020-09-23) has history"
            )
        ]


def test_data_weeks_and_info_agree_on_the_weeks_and_where_the_data_starts(
    cli, raw_master: Path, tmp_path: Path
) -> None:
    raw = raw_copy(raw_master, tmp_path / "raw")
    keep_rows(
        raw, (day() > date(2020, 5, 7)) & (day() != date(2020, 9, 16))
    )  # the data starts mid-week; week last has no first-day rows
    store = _ingest(raw, tmp_path / "hm")
    weeks = cli.json("data", "weeks", "--data", store)["weeks"]
    info = cli.json("data", "info", "--data", store, "--weeks", "3")["recent_weeks"]
    assert (
        [(w["week"], w["start"]) for w in info]
        == [(w["week"], w["start"]) for w in weeks[:3]]
        == [("last", "2020-09-16"), ("1", "2020-09-09"), ("2", "2020-09-02")]
    )
    code, out, _ = cli("data", "weeks", "--data", store)
    assert code == 0 and "week 19 holds only 5 days of data (the data starts on 2020-05-08)" in out


def test_data_weeks_lists_a_week_without_purchases(cli, gap) -> None:
    store, closed = gap
    listed = {w["start"]: w for w in cli.json("data", "weeks", "--data", store)["weeks"]}
    assert (listed[str(closed.start)]["rows"], listed[str(closed.start)]["buyers"]) == (0, 0)


@pytest.fixture(scope="module")
def first_article_sold(raw_master: Path, tmp_path_factory) -> tuple[Path, str]:
    """A store whose first article (index 0) is bought in week last, and its buyer's customer_id."""
    raw = raw_copy(raw_master, tmp_path_factory.mktemp("first") / "raw")
    first = pl.read_csv(raw / "articles.csv", infer_schema=False)["article_id"].cast(pl.Int64).min()
    tx = pl.read_csv(raw / "transactions_train.csv", infer_schema=False)
    last = pl.int_range(pl.len()) == tx.height - 1  # a row of the last date
    tx.with_columns(pl.when(last).then(pl.lit(f"{first:010d}")).otherwise("article_id").alias("article_id")).write_csv(
        raw / "transactions_train.csv"
    )
    store = _ingest(raw, raw.parent / "hm")
    assert Store.open(store).articles.filter(pl.col("article") == 0)["article_id"][0] == first
    return store, tx["customer_id"][-1]


@pytest.mark.bad_input("unknown-article-id")
@pytest.mark.parametrize("token", ["0", "-0", "0000000000"])
def test_an_unknown_article_id_zero_is_a_miss_not_the_first_article(
    cli, first_article_sold, tmp_path: Path, token: str
) -> None:
    store_dir, buyer = first_article_sold
    store = Store.open(store_dir)
    never = store.articles.filter(~pl.col("article").is_in(store.transactions["article"].implode()))["article_id"][1]
    (tmp_path / "p.csv").write_text(f"customer_id,prediction\n{buyer},{token} {never:010d}\n")
    common = ("evaluate", "--data", store_dir, "--predictions", tmp_path / "p.csv")
    code, out, err = cli(*common, "--json")
    assert code == 0, err
    assert json.loads(out)["map@12"] == 0.0
    assert "p.csv: 1 predicted article id not in the store; each takes its slot and never matches" in err
    (tmp_path / "p.csv").write_text(f"customer_id,prediction\n{buyer},{token}\n")
    code, _, err = cli(*common)
    assert code == 2
    assert err.strip().splitlines() == [
        f"hmrec: error: p.csv: none of its article ids is in the store (row 1: {token!r})"
    ]


@pytest.mark.bad_input("tiny-catalogue")
def test_submit_on_a_catalogue_of_fewer_than_12_articles_lists_them_all(cli, raw_master: Path, tmp_path: Path) -> None:
    raw = raw_copy(raw_master, tmp_path / "raw")
    tx = pl.read_csv(raw / "transactions_train.csv", infer_schema=False)
    few = tx["article_id"].value_counts(sort=True)["article_id"].head(5)
    keep_rows(raw, pl.col("article_id").is_in(few.implode()))
    articles = pl.read_csv(raw / "articles.csv", infer_schema=False)
    articles.filter(pl.col("article_id").is_in(few.implode())).write_csv(raw / "articles.csv")
    store = _ingest(raw, tmp_path / "hm")
    out = tmp_path / "submission.csv"
    code, stdout, err = cli(
        "submit",
        "--data",
        store,
        "--cache",
        tmp_path / "cache",
        "--candidates",
        "repurchase,popular",
        "--out",
        out,
        "-q",
    )
    assert code == 0, err
    assert "the catalogue holds only 5 articles: each prediction lists all 5" in err
    assert "x 5 articles (validated)" in stdout
    lists = pl.read_csv(out, infer_schema=False)["prediction"].str.split(" ")
    assert lists.len() == Store.open(store).submission_customers.len()
    assert (lists.list.len() == 5).all() and (lists.list.n_unique() == 5).all()
    assert set(lists.explode().to_list()) == {f"{int(a):010d}" for a in few}
