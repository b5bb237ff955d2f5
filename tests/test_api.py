"""The Python API (`hmrec_cli.api`): the CLI's pipeline called from Python, answering in the shop's
ids, sharing the CLI's cache both ways, and raising the CLI's one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from hmrec_cli import api
from hmrec_cli.data.store import Store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def files(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its modification time: a cache hit adds and rewrites none."""
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def in_shop_ids(frame: pl.DataFrame, store: Store) -> pl.DataFrame:
    """A cached set or ranking (internal indexes) as customer_id, article_id, score."""
    return (
        frame.join(store.customers.select("customer", "customer_id"), on="customer")
        .join(store.articles.select("article", "article_id"), on="article")
        .select("customer_id", "article_id", "score")
        .sort("customer_id", "article_id")
    )


def test_the_notebook_example_runs_and_writes_a_submission_in_the_shops_ids(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "notebook.py"), str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "MAP@12" in run.stdout
    assert run.stderr == ""  # no progress bars, no warnings without progress=True
    submission = pl.read_csv(tmp_path / "submission.csv", schema_overrides={"prediction": pl.String})
    customers = Store.open(tmp_path / "shop").customers["customer_id"]
    assert submission["customer_id"].sort().equals(customers.sort())


def test_weeks_are_those_of_data_weeks(cli, store_dir: Path, tmp_path: Path) -> None:
    weeks = api.open(store_dir, cache=tmp_path / "cache").weeks()
    assert weeks.schema["start"] == pl.Date
    assert (
        weeks.with_columns(pl.col("start", "end").cast(pl.String)).to_dicts()
        == cli.json("data", "weeks", "--data", store_dir)["weeks"]
    )


def test_a_recall_is_shared_with_the_cli_both_ways(cli, store_dir: Path, tmp_path: Path, capfd) -> None:
    cache = tmp_path / "cache"
    store = Store.open(store_dir)
    shop = api.open(store_dir, cache=cache)
    mine = shop.recall("popular", week="1", k=50, by_channel=True)
    assert capfd.readouterr() == ("", "")  # quiet without progress=True
    theirs = cli.json(
        "recall",
        "--method",
        "popular",
        "--week",
        "1",
        "--k",
        "50",
        "-o",
        "by_channel=true",
        "--data",
        store_dir,
        "--cache",
        cache,
    )
    assert theirs["cached"] is True
    assert (
        mine.drop("rank").sort("customer_id", "article_id").equals(in_shop_ids(pl.read_parquet(theirs["path"]), store))
    )
    assert mine.group_by("customer_id").agg(pl.col("score").sort_by("rank").is_sorted(descending=True))["score"].all()
    assert mine.group_by("customer_id").agg(pl.col("rank").min())["rank"].unique().to_list() == [1]

    made = cli.json("recall", "--method", "repurchase", "--data", store_dir, "--cache", cache)
    assert made["cached"] is False
    before = files(cache)
    again = shop.recall("repurchase")
    assert files(cache) == before
    assert (
        again.drop("rank").sort("customer_id", "article_id").equals(in_shop_ids(pl.read_parquet(made["path"]), store))
    )


def test_rank_evaluate_and_submit_are_the_clis(cli, store_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    store = Store.open(store_dir)
    shop = api.open(store_dir, cache=cache)
    top = shop.rank("merge", candidates=["popular", "repurchase"], week="last", train_weeks=2)
    theirs = cli.json(
        "rank",
        "--ranker",
        "merge",
        "--candidates",
        "popular,repurchase",
        "--train-weeks",
        "2",
        "--data",
        store_dir,
        "--cache",
        cache,
    )
    assert theirs["cached"] is True
    assert (
        top.drop("rank").sort("customer_id", "article_id").equals(in_shop_ids(pl.read_parquet(theirs["path"]), store))
    )
    assert top.group_by("customer_id").len()["len"].unique().to_list() == [12]
    assert top["article_id"].is_in(store.articles["article_id"].implode()).all()

    figures = shop.evaluate(top, week="last")
    scored = cli.json("evaluate", "--predictions", "merge", "--week", "last", "--data", store_dir, "--cache", cache)
    for name in ("map@12", "recall@12", "map@12_with_history", "oracle_map@12"):
        assert figures[name] == pytest.approx(scored[name], abs=1e-12), name
    assert figures["scored_customers"] == scored["scored_customers"] and figures["leaked"] is False
    assert shop.evaluate("merge")["map@12"] == pytest.approx(scored["map@12"], abs=1e-12)

    stranger = top.head(1).with_columns(customer_id=pl.lit("not a customer"))
    with pytest.warns(api.HmrecWarning, match="1 customer not in the store was ignored"):
        assert shop.evaluate(pl.concat([top, stranger]))["map@12"] == pytest.approx(figures["map@12"], abs=1e-12)

    written = shop.submit(tmp_path / "api.csv", candidates="popular,repurchase", ranker="merge", train_weeks=2)
    before = files(cache)
    code, _, err = cli(
        "submit",
        "--candidates",
        "popular,repurchase",
        "--ranker",
        "merge",
        "--train-weeks",
        "2",
        "--out",
        tmp_path / "cli.csv",
        "--data",
        store_dir,
        "--cache",
        cache,
        "-q",
    )
    assert code == 0, err
    assert files(cache) == before
    assert written.read_bytes() == (tmp_path / "cli.csv").read_bytes()
    with pytest.warns(
        api.HmrecWarning, match="the score means nothing"
    ):  # a submission for week next has seen week last
        assert shop.evaluate(written, week="last")["leaked"] is True


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda shop: shop.recall("nope"), ["recall", "--method", "nope"]),
        (
            lambda shop: shop.recall("popular", week="1999-01-06"),
            ["recall", "--method", "popular", "--week", "1999-01-06"],
        ),
        (lambda shop: shop.recall("popular", k=0), ["recall", "--method", "popular", "--k", "0"]),
        (
            lambda shop: shop.rank("merge", candidates="popular", train_weeks=99),
            ["rank", "--ranker", "merge", "--candidates", "popular", "--train-weeks", "99"],
        ),
        (lambda shop: shop.evaluate("merge", week="next"), ["evaluate", "--predictions", "merge", "--week", "next"]),
        (
            lambda shop: shop.submit(shop.cache / "s.csv", candidates="popular"),
            ["submit", "--candidates", "popular", "--out", "CACHE/s.csv"],
        ),
    ],
)
def test_bad_input_raises_the_clis_one_line(cli, store_dir: Path, tmp_path: Path, call, words: list[str]) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(api.HmrecError) as raised:
        call(api.open(store_dir, cache=cache))
    words = [w.replace("CACHE", str(cache)) for w in words]
    code, _, err = cli(*words, "--data", store_dir, "--cache", cache)
    assert code == 2
    assert err.strip().removesuffix(f" (see `hmrec {words[0]} --help`)") == f"hmrec: error: {raised.value}"


def test_a_missing_store_is_refused_on_open(cli, tmp_path: Path) -> None:
    with pytest.raises(api.HmrecError) as raised:
        api.open(tmp_path / "nowhere")
    assert cli("data", "weeks", "--data", tmp_path / "nowhere")[2].strip() == f"hmrec: error: {raised.value}"


def test_settings_come_from_the_environment_and_the_pipeline_table(
    cli, store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "hmrec.toml").write_text(
        f'[pipeline]\ndata = "{store_dir}"\ncache = "from-config"\ncandidates = "popular,repurchase"\nranker = "merge"\ntrain_weeks = 2\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    for name in ("HMREC_DATA", "HMREC_CACHE", "HMREC_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    shop = api.open()
    assert (shop.data, shop.cache.resolve()) == (store_dir, tmp_path.resolve() / "from-config")
    shop.rank()  # merge over popular,repurchase, 2 weeks: what `hmrec rank` runs with the same table
    assert cli.json("rank")["cached"] is True
    monkeypatch.setenv("HMREC_CACHE", str(tmp_path / "from-env"))
    assert api.open().cache == tmp_path / "from-env"
    assert api.open(cache="given").cache == Path("given")
    assert os.environ["HMREC_CACHE"] == str(tmp_path / "from-env")
