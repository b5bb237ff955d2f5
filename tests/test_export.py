"""`hmrec export` and `hmrec submit --customers`: rankings and submissions in the shop's ids."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.cache import Cache
from hmrec_cli.data.store import Store
from hmrec_cli.pipeline.recall import ordered


@pytest.fixture(scope="module")
def ranked(store_dir: Path, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from hmrec_cli.cli import app

    cache = tmp_path_factory.mktemp("export") / "cache"
    args = [
        "rank",
        "--ranker",
        "merge",
        "--candidates",
        "popular,repurchase",
        "--train-weeks",
        "2",
        "--week",
        "next",
        "--data",
        str(store_dir),
        "--cache",
        str(cache),
        "-q",
    ]
    assert CliRunner().invoke(app, args).exit_code == 0
    return cache


def _expected(store_dir: Path, cache: Path) -> pl.DataFrame:
    """The cached ranking's rows mapped to the shop's ids, each source's rank of the article."""
    store = Store.open(store_dir)
    entry = Cache(cache).resolve("rankings", "merge", "2020-09-23", store.fingerprint)
    rows = entry.read()
    for label in entry.manifest["source_sets"]:
        source = label.partition("@")[0]
        cands = ordered(Cache(cache).resolve("candidates", label, entry.week, store.fingerprint).read()).select(
            "customer", "article", **{source: pl.col("rank") + 1}
        )
        rows = rows.join(cands, on=["customer", "article"], how="left")
    return (
        rows.join(store.customers.select("customer", "customer_id"), on="customer")
        .join(store.articles.select("article", pl.col("article_id").cast(pl.String).str.zfill(10)), on="article")
        .sort("customer", "rank")
        .select(
            "customer_id",
            rank=pl.col("rank") + 1,
            article_id="article_id",
            score="score",
            popular="popular",
            repurchase="repurchase",
        )
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export_writes_the_cached_rankings_rows_in_the_shops_ids(
    cli, store_dir: Path, ranked: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"recs{suffix}"
    code, text, err = cli(
        "export", "--ranking", "merge", "--week", "next", "--out", out, "--data", store_dir, "--cache", ranked
    )
    assert code == 0 and f"wrote {out}" in text, err
    got = (
        pl.read_parquet(out)
        if suffix == ".parquet"
        else pl.read_csv(out, schema_overrides={"customer_id": pl.String, "article_id": pl.String})
    )
    assert got.columns == ["customer_id", "rank", "article_id", "score", "sources"]
    want = _expected(store_dir, ranked)
    assert got.select("customer_id", "rank", "article_id").equals(
        want.select("customer_id", pl.col("rank").cast(got.schema["rank"]), "article_id")
    )
    assert (got["score"].cast(pl.Float32) - want["score"]).abs().max() < 1e-6
    # sources: source:rank of each set that proposed the article, best rank first
    sources = got["sources"].fill_null("").to_list()
    for text, popular, repurchase in zip(sources, want["popular"], want["repurchase"], strict=True):
        given = dict(part.split(":") for part in text.split(",") if part)
        assert given == {k: str(v) for k, v in (("popular", popular), ("repurchase", repurchase)) if v is not None}
        assert [int(v) for v in given.values()] == sorted(int(v) for v in given.values())


def test_export_of_some_customers_and_its_json(cli, store_dir: Path, ranked: Path, tmp_path: Path) -> None:
    ids = Store.open(store_dir).customers["customer_id"].sample(5, seed=1).to_list()
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    out = cli.json(
        "export",
        "--ranking",
        "merge",
        "--out",
        tmp_path / "r.csv",
        "--customers",
        tmp_path / "ids.txt",
        "--data",
        store_dir,
        "--cache",
        ranked,
    )
    assert (
        out["rows"] == 60
        and out["customers"] == 5
        and out["name"].startswith("merge@")
        and out["path"] == str(tmp_path / "r.csv")
    )
    assert set(pl.read_csv(tmp_path / "r.csv", schema_overrides={"customer_id": pl.String})["customer_id"]) == set(ids)


def test_export_refuses_bad_output_and_missing_rankings(cli, store_dir: Path, ranked: Path, tmp_path: Path) -> None:
    common = ["--data", store_dir, "--cache", ranked]
    code, _, err = cli("export", "--ranking", "merge", "--out", ranked / "recs.csv", *common)
    assert code == 2 and "is inside the cache" in err and not (ranked / "recs.csv").exists(), err
    code, _, err = cli("export", "--ranking", "merge", "--out", tmp_path / "recs.txt", *common)
    assert code == 2 and "expected a .parquet or .csv" in err, err
    code, _, err = cli("export", "--ranking", "din", "--out", tmp_path / "recs.csv", *common)
    assert code == 2 and "no cached din ranking" in err and "hmrec rank --ranker din" in err and err.count("\n") == 1, (
        err
    )
    assert not (tmp_path / "recs.csv").exists()


def test_submit_with_customers_writes_only_those(cli, store_dir: Path, ranked: Path, tmp_path: Path) -> None:
    store = Store.open(store_dir)
    ids = store.customers["customer_id"].sample(7, seed=2).to_list()
    (tmp_path / "ids.txt").write_text("customer_id\n" + "\n".join(ids) + "\n")
    common = ["--candidates", "popular,repurchase", "--data", store_dir, "--cache", tmp_path / "c", "-q"]
    assert cli("submit", *common, "--out", tmp_path / "all.csv")[0] == 0
    code, _, err = cli("submit", *common, "--customers", tmp_path / "ids.txt", "--out", tmp_path / "some.csv")
    assert code == 0, err
    some, whole = (
        pl.read_csv(tmp_path / "some.csv", infer_schema=False),
        pl.read_csv(tmp_path / "all.csv", infer_schema=False),
    )
    assert sorted(some["customer_id"]) == sorted(ids)
    assert some.sort("customer_id").equals(whole.filter(pl.col("customer_id").is_in(ids)).sort("customer_id"))
    code, _, err = cli("submit", *common, "--customers", tmp_path / "none.txt", "--out", tmp_path / "x.csv")
    assert code == 2 and "none.txt: no such file" in err, err
