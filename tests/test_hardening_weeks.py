"""Weeks at the edges (issue 26, items 2, 5, 6, 9, 10): a week without purchases in the history
or as the target, --week values past any range, logs shorter than a week, unknown article ids in
a predictions file, and a catalogue of fewer than 12 articles."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.ingest import ingest, locate_sources
from hmrec_cli.splits import resolve_week
from hmrec_cli.store import Store


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


@pytest.mark.bad_input("week-out-of-range")
@pytest.mark.parametrize("spec", ["9999-12-31", "999999999", "²", "1" + "0" * 30])
def test_a_week_past_any_range_names_the_weeks_that_exist(cli, store_dir: Path, tmp_path: Path, spec: str) -> None:
    code, _, err = cli("recall", "--method", "popular", "--data", store_dir, "--cache", tmp_path / "cache", "--week", spec)
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
    assert cli.json("evaluate", "--data", store_dir, "--cache", tmp_path / "cache", "--weeks", "19", "--candidates", "popular")["weeks"] == 19


@pytest.mark.bad_input("week-out-of-range")
def test_week_last_on_a_log_shorter_than_a_week_has_no_history(cli, raw_master: Path, tmp_path: Path) -> None:
    raw = raw_copy(raw_master, tmp_path / "raw")
    keep_rows(raw, day() >= date(2020, 9, 18))  # five days, 2020-09-18 .. 2020-09-22
    store = _ingest(raw, tmp_path / "hm")
    for spec in ("last", "0", "2020-09-16"):
        code, _, err = cli("recall", "--method", "popular", "--data", store, "--cache", tmp_path / "cache", "--week", spec)
        assert code == 2
        assert err.strip().splitlines() == [
            (
                f"hmrec: error: --week {spec}: the week starts 2020-09-16, but the data starts 2020-09-18; no history to learn from; "
                "the data (2020-09-18 .. 2020-09-22) is shorter than a week, so only next (2020-09-23) has history"
            )
        ]


def test_data_weeks_and_info_agree_on_the_weeks_and_where_the_data_starts(cli, raw_master: Path, tmp_path: Path) -> None:
    raw = raw_copy(raw_master, tmp_path / "raw")
    keep_rows(raw, (day() > date(2020, 5, 7)) & (day() != date(2020, 9, 16)))  # the data starts mid-week; week last has no first-day rows
    store = _ingest(raw, tmp_path / "hm")
    weeks = cli.json("data", "weeks", "--data", store)["weeks"]
    info = cli.json("data", "info", "--data", store, "--weeks", "3")["recent_weeks"]
    assert [(w["week"], w["start"]) for w in info] == [(w["week"], w["start"]) for w in weeks[:3]] == [("last", "2020-09-16"), ("1", "2020-09-09"), ("2", "2020-09-02")]
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
    tx.with_columns(pl.when(last).then(pl.lit(f"{first:010d}")).otherwise("article_id").alias("article_id")).write_csv(raw / "transactions_train.csv")
    store = _ingest(raw, raw.parent / "hm")
    assert Store.open(store).articles.filter(pl.col("article") == 0)["article_id"][0] == first
    return store, tx["customer_id"][-1]
