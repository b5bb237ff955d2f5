"""Ingest the byte-for-byte extracts of the real competition files (../shared/data/hm_real_sample).

Their rows are not redistributable, so they are read from the shared folder and never copied into
the project; each quirk they carry is also reproduced on generated files in test_ingest.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from conftest import REAL_SAMPLE

from hmrec_cli.data.ingest import ingest, locate_sources
from hmrec_cli.data.store import Store

pytestmark = pytest.mark.skipif(
    not REAL_SAMPLE.is_dir(), reason=f"real H&M extracts not found at {REAL_SAMPLE} (they are in CI's shared/)"
)
NADER = REAL_SAMPLE / "Nader-Opeyany__HM-Clothing-DataScience"
HUNGLE = REAL_SAMPLE / "hungle45__PSE-Recommendor-System"
SCHOLIH = REAL_SAMPLE / "scholih__ragrec"


def test_head_extract_with_index_column_plain_ids_and_partial_customers(tmp_path: Path) -> None:
    report = ingest(locate_sources(NADER, {}), tmp_path / "hm")
    store = Store.open(tmp_path / "hm")
    assert store.transactions.height == 10_000
    assert store.articles.height == 4_903 and store.articles["known"].all()  # the pandas index column is ignored
    assert store.articles["article_id"].min() == 108775015
    # 2,954 buyers, only 104 of them among the first 10,000 customers of customers.csv
    assert int((~store.customers["known"]).sum()) == 2_954 - 104
    assert store.customers.height == 10_000 + 2_954 - 104
    assert report.warnings == [
        f"{2_954 - 104} customers in the transactions are missing from the customers file; kept with empty metadata"
    ]
    assert store.transactions["t_dat"].unique().to_list() == [date(2018, 9, 20)]
    assert set(store.transactions["channel"].unique()) == {1, 2}
    assert store.customers.filter("known")["age"].null_count() < 200  # real ages are written 49.0


def test_customer_sample_two_years_with_articles_from_another_sample(tmp_path: Path) -> None:
    sources = {
        "transactions": HUNGLE / "commit_3b7354e7" / "transactions_train_sample.csv",
        "customers": HUNGLE / "commit_3b7354e7" / "customers_sample.csv",
        "articles": HUNGLE / "commit_a8979e10" / "articles_train_sample.csv",
    }
    report = ingest(locate_sources(None, sources), tmp_path / "hm")
    store = Store.open(tmp_path / "hm")
    assert store.transactions.height == 31_662
    assert (store.first_date.isoformat(), store.last_date.isoformat()) == ("2018-09-20", "2020-09-22")
    assert store.transactions["customer"].n_unique() == 1_364 == store.customers.height
    assert store.transactions["article"].n_unique() == 17_033
    assert int(store.articles["known"].sum()) == 11_800
    assert store.articles.height == 11_800 + 17_033 - 4_116
    unknown_rows = 31_662 - 9_925
    assert report.warnings == [
        f"{17_033 - 4_116} articles ({unknown_rows} transaction rows) are missing from the articles file; "
        "kept with empty metadata and product_code = article_id // 1000"
    ]
    known = store.articles.filter("known")
    assert (known["product_code"] == known["article_id"] // 1000).all()
    assert known["section_name"].cast(pl.String).str.contains(",").any()  # quoted commas survive


def test_parquet_sample_without_sales_channel(tmp_path: Path) -> None:
    report = ingest(locate_sources(SCHOLIH, {}), tmp_path / "hm")
    store = Store.open(tmp_path / "hm")
    assert store.transactions.height == 5_000
    assert store.transactions["channel"].unique().to_list() == [0]  # documented default: unknown
    assert store.customers.height == 4_946 and store.customers["known"].all()
    assert store.articles.height == 1_000 and store.transactions["article"].n_unique() == 606
    assert report.warnings == [
        "transactions_sample.parquet: no sales_channel_id column; every row gets channel 0 (unknown)"
    ]
    assert store.customers["age"].dtype == pl.UInt8  # Int64 in the parquet file


def test_evaluate_a_popularity_submission_on_real_weeks(cli, tmp_path: Path) -> None:
    sources = [
        "--transactions",
        HUNGLE / "commit_3b7354e7" / "transactions_train_sample.csv",
        "--customers",
        HUNGLE / "commit_3b7354e7" / "customers_sample.csv",
        "--articles",
        HUNGLE / "commit_a8979e10" / "articles_train_sample.csv",
    ]
    assert cli("data", "ingest", *sources, "--data", tmp_path / "hm", "-q")[0] == 0
    store = Store.open(tmp_path / "hm")
    hist = store.transactions.filter(pl.col("t_dat") < pl.date(2020, 9, 16))
    top = hist.group_by("article").len().sort(["len", "article"], descending=[True, False]).head(12)
    ids = " ".join(str(a) for a in store.articles["article_id"].gather(top["article"]))
    pl.DataFrame({"customer_id": store.customers["customer_id"], "prediction": ids}).write_csv(tmp_path / "s.csv")
    result = cli.json("evaluate", "--data", tmp_path / "hm", "--predictions", tmp_path / "s.csv")
    assert (
        result["scored_customers"]
        == store.transactions.filter(pl.col("t_dat") >= pl.date(2020, 9, 16))["customer"].n_unique()
    )
    assert 0 <= result["map@12"] < 0.2
