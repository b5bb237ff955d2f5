"""Logs in other shapes: an order log ingests by mapping; MovieLens converts to files `hmrec data ingest` reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

from hmrec_cli.data.store import Store

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_a_customer_item_day_log_ingests_by_mapping(cli, tmp_path: Path) -> None:
    """The log benchmarks/log_to_hm.py converted before `hmrec data ingest` read order logs itself."""
    log = tmp_path / "log.csv"
    log.write_text(
        "member,when,what\n7,21-07-2015,whole milk\n7,21-07-2015,whole milk\n9,22-07-2015,rolls/buns\n7,01-08-2015,rolls/buns\n"
    )
    code, _, err = cli(
        "data",
        "ingest",
        log,
        "--customer",
        "member",
        "--item",
        "what",
        "--date",
        "when",
        "--date-format",
        "%d-%m-%Y",
        "--data",
        tmp_path / "store",
        "-q",
    )
    assert code == 0, err
    store = Store.open(tmp_path / "store")
    assert (
        store.transactions.height == 4 and store.customers.height == 2 and store.articles.height == 2
    )  # the repeated row is a quantity
    assert str(store.first_date) == "2015-07-21" and str(store.last_date) == "2015-08-01"
    assert sorted(store.customers["customer_id"].to_list()) == ["7", "9"]  # the shop's ids, not renumbered
    assert store.articles.sort("article")["item_id"].to_list() == ["rolls/buns", "whole milk"]


def test_movielens_files_convert_and_ingest(cli, tmp_path: Path) -> None:
    ml = tmp_path / "ml-100k"
    ml.mkdir()
    (ml / "u.data").write_text("1\t2\t5\t883603013\n2\t1\t3\t881250949\n")
    (ml / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    (ml / "u.genre").write_text("unknown|0\nAction|1\nComedy|2\n\n")
    (ml / "u.item").write_text(
        "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|1\n2|GoldenEye (1995)|01-Jan-1995||http://y|0|1|0\n"
    )
    done = subprocess.run(
        [sys.executable, BENCHMARKS / "movielens_to_hm.py", ml, tmp_path / "out"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    code, _, err = cli("data", "ingest", tmp_path / "out", "--data", tmp_path / "store", "-q")
    assert code == 0, err
    store = Store.open(tmp_path / "store")
    types = store.articles.sort("article_id")["product_type_name"].cast(pl.String).to_list()
    assert (
        store.transactions.height == 2
        and types == ["Comedy", "Action"]
        and sorted(store.customers["age"].to_list()) == [24, 53]
    )
