"""Ingest on generated Kaggle-format files: content round-trips, formats, quirks, atomicity."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
from conftest import TINY

from hmrec_cli.data.ingest import ingest, locate_sources
from hmrec_cli.data.store import Store


def text(path: Path) -> pl.DataFrame:
    """A CSV exactly as written: every field as text."""
    return pl.read_csv(path, infer_schema=False)


def run_ingest(raw: Path, dest: Path, **kw):
    return ingest(locate_sources(raw, {}), dest, **kw)


def test_store_round_trips_every_transaction(raw: Path, tmp_path: Path) -> None:
    run_ingest(raw, tmp_path / "hm")
    store = Store.open(tmp_path / "hm")
    source = text(raw / "transactions_train.csv")
    back = (
        store.transactions.join(
            store.customers.select("customer", "customer_id"), on="customer", how="left", maintain_order="left"
        )
        .join(store.articles.select("article", "article_id"), on="article", how="left", maintain_order="left")
        .select(
            pl.col("t_dat").cast(pl.String),
            "customer_id",
            pl.col("article_id").cast(pl.String).str.zfill(10),
            "price",
            pl.col("channel").cast(pl.String).alias("sales_channel_id"),
        )
    )
    expected = source.with_columns(pl.col("price").cast(pl.Float32))
    assert back.equals(expected)
    schema = store.transactions.schema
    assert schema == pl.Schema(
        {"t_dat": pl.Date, "customer": pl.UInt32, "article": pl.UInt32, "price": pl.Float32, "channel": pl.UInt8}
    )
    assert store.transactions["t_dat"].is_sorted()


def test_dense_ids_follow_sorted_original_ids(store_dir: Path) -> None:
    store = Store.open(store_dir)
    assert store.customers["customer"].to_list() == list(range(store.customers.height))
    assert store.customers["customer_id"].is_sorted()
    assert store.articles["article_id"].is_sorted()
    assert store.articles["article"].to_list() == list(range(store.articles.height))
    statuses = store.customers["club_member_status"].cast(pl.String).unique().sort().to_list()
    assert store.customers.schema["club_member_status"] == pl.Enum(statuses)  # categories sorted: stable codes


def test_kaggle_text_values_are_typed(raw: Path, tmp_path: Path) -> None:
    run_ingest(raw, tmp_path / "hm")
    store = Store.open(tmp_path / "hm")
    source = text(raw / "customers.csv").sort("customer_id")
    assert store.customers["FN"].to_list() == [True if v == "1.0" else None for v in source["FN"]]
    assert store.customers["age"].cast(pl.String).to_list() == source["age"].to_list()
    arts = text(raw / "articles.csv").sort("article_id")
    assert store.articles["colour_group_code"].to_list() == [int(v) for v in arts["colour_group_code"]]
    assert store.articles["section_name"].cast(pl.String).to_list() == arts["section_name"].to_list()  # quoted commas
    assert store.articles["detail_desc"].to_list() == arts["detail_desc"].to_list()  # quoted quotes


def test_second_ingest_is_skipped_and_force_rebuilds_identically(raw: Path, tmp_path: Path) -> None:
    first = run_ingest(raw, tmp_path / "hm")
    fingerprint = Store.open(tmp_path / "hm").fingerprint
    assert not first.skipped
    assert run_ingest(raw, tmp_path / "hm").skipped
    assert not run_ingest(raw, tmp_path / "hm", force=True).skipped
    assert Store.open(tmp_path / "hm").fingerprint == fingerprint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hm", "kaggle"]  # no temp folders left


def test_plain_integer_article_ids_give_the_same_store(raw: Path, tmp_path: Path) -> None:
    run_ingest(raw, tmp_path / "padded")
    for name in ("transactions_train.csv", "articles.csv"):
        df = text(raw / name).with_columns(pl.col("article_id").cast(pl.Int64))
        df.write_csv(raw / name)
    run_ingest(raw, tmp_path / "plain")
    assert Store.open(tmp_path / "plain").fingerprint == Store.open(tmp_path / "padded").fingerprint


def test_gzip_and_parquet_inputs_match_csv(raw: Path, tmp_path: Path) -> None:
    run_ingest(raw, tmp_path / "csv")
    gz = tmp_path / "gz"
    gz.mkdir()
    for path in raw.glob("*.csv"):
        (gz / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    run_ingest(gz, tmp_path / "gz-store")
    pq = tmp_path / "pq"
    pq.mkdir()
    for path in raw.glob("*.csv"):
        pl.read_csv(path).write_parquet(pq / path.name.replace(".csv", ".parquet"))  # inferred types, as pandas would
    run_ingest(pq, tmp_path / "pq-store")
    reference = Store.open(tmp_path / "csv")
    for other in ("gz-store", "pq-store"):
        store = Store.open(tmp_path / other)
        assert store.transactions.equals(reference.transactions)
        assert store.customers.equals(reference.customers)
        assert store.articles.equals(reference.articles)


def test_pandas_index_column_is_ignored(raw: Path, tmp_path: Path) -> None:
    run_ingest(raw, tmp_path / "before")
    arts = text(raw / "articles.csv")
    arts.select(pl.int_range(arts.height).cast(pl.String).alias(""), pl.all()).write_csv(raw / "articles.csv")
    report = run_ingest(raw, tmp_path / "after")
    assert report.warnings == []
    assert Store.open(tmp_path / "after").articles.equals(Store.open(tmp_path / "before").articles)


def test_unknown_articles_are_kept_with_placeholder_metadata(raw: Path, tmp_path: Path) -> None:
    arts = text(raw / "articles.csv")
    dropped = arts["article_id"].head(20).cast(pl.Int64)
    arts.slice(20).write_csv(raw / "articles.csv")
    tx = text(raw / "transactions_train.csv")
    affected = int(tx["article_id"].cast(pl.Int64).is_in(dropped.implode()).sum())
    used = tx["article_id"].cast(pl.Int64).unique()
    n_unknown = int(used.is_in(dropped.implode()).sum())
    report = run_ingest(raw, tmp_path / "hm")
    assert report.warnings == [
        f"{n_unknown} articles ({affected} transaction rows) are missing from the articles file; "
        "kept with empty metadata and product_code = article_id // 1000"
    ]
    store = Store.open(tmp_path / "hm")
    placeholders = store.articles.filter(~pl.col("known"))
    assert placeholders.height == n_unknown
    assert (placeholders["product_code"] == placeholders["article_id"] // 1000).all()
    assert placeholders["prod_name"].null_count() == n_unknown
    assert store.transactions.height == tx.height


def test_unknown_customers_are_kept_and_counted(raw: Path, tmp_path: Path) -> None:
    cust = text(raw / "customers.csv")
    cust.slice(50).write_csv(raw / "customers.csv")
    report = run_ingest(raw, tmp_path / "hm")
    store = Store.open(tmp_path / "hm")
    assert store.customers.height == cust.height
    assert int((~store.customers["known"]).sum()) == 50
    assert any("customers in the sample submission are missing" in w for w in report.warnings)
    assert store.customers["customer_id"].is_sorted()


def test_missing_sales_channel_becomes_channel_zero(raw: Path, tmp_path: Path) -> None:
    text(raw / "transactions_train.csv").drop("sales_channel_id").write_csv(raw / "transactions_train.csv")
    run_ingest(raw, tmp_path / "hm")
    assert Store.open(tmp_path / "hm").transactions["channel"].unique().to_list() == [0]


def test_unsorted_transactions_are_sorted_by_date_keeping_order_within_a_day(raw: Path, tmp_path: Path) -> None:
    run_ingest(raw, tmp_path / "sorted")
    tx = text(raw / "transactions_train.csv")
    tx.sort("t_dat", descending=True, maintain_order=True).write_csv(raw / "transactions_train.csv")
    run_ingest(raw, tmp_path / "shuffled")
    assert Store.open(tmp_path / "shuffled").transactions.equals(Store.open(tmp_path / "sorted").transactions)


def test_manifest_records_sources_rows_and_dates(store_dir: Path) -> None:
    manifest = json.loads((store_dir / "manifest.json").read_text())
    assert manifest["rows"]["customers"] == TINY.customers
    assert set(manifest["sources"]) == {"transactions", "customers", "articles", "sample_submission", "oracle"}
    assert manifest["last_date"] == "2020-09-22"
    assert len(manifest["fingerprint"]) == 16


def test_cli_ingest_then_info(cli, raw: Path, tmp_path: Path) -> None:
    code, out, _ = cli("data", "ingest", raw, "--data", tmp_path / "hm", "--quiet")
    assert code == 0 and "transactions" in out
    info = cli.json("data", "info", "--data", tmp_path / "hm", "--weeks", "3")
    assert info["customers"] == TINY.customers and info["articles"] == TINY.articles
    assert [w["week"] for w in info["recent_weeks"]] == ["last", "1", "2"]
    assert info["recent_weeks"][0]["start"] == "2020-09-16"
    assert sum(1 for _ in open(raw / "transactions_train.csv")) - 1 == info["rows"]


def test_explicit_file_options_override_the_folder(cli, raw: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere.csv"
    (raw / "articles.csv").rename(moved)
    code, _, err = cli("data", "ingest", raw, "--data", tmp_path / "hm", "-q")
    assert code == 2 and "no articles file in" in err
    code, _, err = cli("data", "ingest", raw, "--articles", moved, "--data", tmp_path / "hm", "-q")
    assert code == 0, err


def test_fingerprint_depends_on_content_not_memory_layout(store_dir: Path) -> None:
    from hmrec_cli.data.store import content_fingerprint

    store = Store.open(store_dir)
    tables = {"transactions": store.transactions, "customers": store.customers, "articles": store.articles}
    tx = store.transactions
    chunked = pl.concat([tx.slice(0, 1000), tx.slice(1000)], rechunk=False)
    assert chunked.n_chunks() == 2
    assert content_fingerprint({**tables, "transactions": chunked}) == content_fingerprint(tables)
    changed = tx.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(pl.col("price") + 0.01).otherwise("price").alias("price")
    )
    assert content_fingerprint({**tables, "transactions": changed}) != content_fingerprint(tables)
