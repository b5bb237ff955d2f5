"""`hmrec data sample`: a customer-sampled store keeps every row of its customers and nothing else."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hmrec_cli.data.store import Store


def rows_by_customer_id(store: Store) -> pl.DataFrame:
    return (
        store.transactions.join(store.customers.select("customer", "customer_id"), on="customer")
        .join(store.articles.select("article", "article_id"), on="article")
        .select("t_dat", "customer_id", "article_id", "price", "channel")
    )


def test_sample_keeps_all_rows_of_a_share_of_customers(cli, store_dir: Path, tmp_path: Path) -> None:
    result = cli.json(
        "data", "sample", "--data", store_dir, "--customers", "0.3", "--seed", "1", "--out", tmp_path / "s"
    )
    full, part = Store.open(store_dir), Store.open(tmp_path / "s")
    assert result["customers"] == part.customers.height == round(0.3 * full.customers.height)
    assert part.customers["customer"].to_list() == list(range(part.customers.height))  # dense again
    assert part.customers["customer_id"].is_sorted() and part.articles.equals(full.articles)
    kept = part.customers["customer_id"]
    expected = rows_by_customer_id(full).filter(pl.col("customer_id").is_in(kept.implode()))
    assert rows_by_customer_id(part).equals(expected)  # every row of theirs, in the same order, nothing else
    assert (part.first_date, part.last_date) == (full.first_date, full.last_date)
    assert part.fingerprint != full.fingerprint and part.manifest["rows"]["transactions"] == expected.height

    def oracle_lists(store: Store) -> pl.DataFrame:
        lists = pl.read_parquet(store.path / "oracle.parquet").join(
            store.customers.select("customer", "customer_id"), on="customer"
        )
        return lists.select("week", "customer_id", "article", "probability").sort("week", "customer_id")

    sampled_oracle = oracle_lists(part)
    assert sampled_oracle.height > 0
    assert sampled_oracle.equals(oracle_lists(full).filter(pl.col("customer_id").is_in(kept.implode())))
    measures = {p["measure"]: p for p in result["popularity"]}
    assert measures["rows"]["sample"] == expected.height
    assert measures["last week's top 12 also the sample's top 12"]["sample"] <= 12


def test_sample_is_deterministic_and_evaluates_like_any_store(cli, store_dir: Path, tmp_path: Path) -> None:
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        code, out, err = cli(
            "data", "sample", "--data", store_dir, "--customers", "0.5", "--seed", seed, "--out", tmp_path / name
        )
        assert code == 0, err
    assert "popularity" in out
    fingerprints = {name: Store.open(tmp_path / name).fingerprint for name in "abc"}
    assert fingerprints["a"] == fingerprints["b"] != fingerprints["c"]
    result = cli.json(
        "recall", "--data", tmp_path / "a", "--cache", tmp_path / "cache", "--method", "popular", "--week", "last"
    )
    assert result["oracle_figures"]["map@12"] > 0  # the sampled customers kept their oracle lists


def test_bad_sample_options_exit_2_and_write_nothing(cli, store_dir: Path, tmp_path: Path) -> None:
    for share in ("0", "1.5"):
        code, _, err = cli("data", "sample", "--data", store_dir, "--customers", share, "--out", tmp_path / "s")
        assert code == 2 and "--customers" in err and not (tmp_path / "s").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    code, _, err = cli("data", "sample", "--data", store_dir, "--out", tmp_path / "busy")
    assert (
        code == 2 and "not an hmrec store" in err and [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    )
    code, _, err = cli("data", "sample", "--data", store_dir, "--out", store_dir)
    assert code == 2 and "source store" in err
