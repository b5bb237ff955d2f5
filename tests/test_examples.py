"""The example scripts run against the store API and see no rows on or after their target week."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import polars as pl

from hmrec_cli.data.splits import resolve_week
from hmrec_cli.data.store import Store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_popularity_submission_ignores_the_target_week_and_later(store_dir: Path) -> None:
    popularity = load("popularity_submission")
    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    before = popularity.popularity_submission(store, week)
    future = pl.col("t_dat") >= week.start
    altered = store.transactions.with_columns(
        pl.when(future).then((pl.col("article") + 1) % store.articles.height).otherwise("article").alias("article")
    )
    store.__dict__["transactions"] = altered  # replace the cached table, as if the future had changed
    assert popularity.popularity_submission(store, week).equals(before)
    assert before.height == store.customers.height
    assert before["prediction"].str.split(" ").list.len().unique().to_list() == [12]


def test_popularity_script_writes_files_that_evaluate_reads(cli, store_dir: Path, tmp_path: Path) -> None:
    script = [sys.executable, str(EXAMPLES / "popularity_submission.py"), "--data", str(store_dir)]
    subprocess.run([*script, "--weeks", "2", "--out-dir", str(tmp_path)], check=True, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2020-09-09.csv",
        "2020-09-09.csv.json",
        "2020-09-16.csv",
        "2020-09-16.csv.json",
    ]
    report = cli.json("evaluate", "--data", store_dir, "--weeks", "2", "--predictions-dir", tmp_path)
    assert report["map@12"] > 0 and report["leaked"] is False  # the sidecars say: fitted before each week
