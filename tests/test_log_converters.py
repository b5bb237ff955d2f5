"""Logs in other shapes: an order log ingests by mapping; MovieLens converts to files `hmrec data ingest` reads."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def test_ta_feng_and_groceries_convert_and_ingest(cli, tmp_path: Path) -> None:
    """The suite's grocery logs (benchmarks/real_logs.py): their own columns in, files ingest reads out."""
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "ta_feng_all_months_merged.csv").write_text(
        '\ufeff"TRANSACTION_DT","CUSTOMER_ID","AGE_GROUP","PIN_CODE","PRODUCT_SUBCLASS","PRODUCT_ID","AMOUNT","ASSET","SALES_PRICE"\n'
        '"11/1/2000","01104905","45-49","115","110411","4710199010372","2","24","30"\n'
        '"11/8/2000","01104905","45-49","115","110411","4710199010372","1","12","15"\n'
        '"11/9/2000","00418683","","221","120107","4710857472535","1","48","46"\n'
    )
    (tmp_path / "gr").mkdir()
    (tmp_path / "gr" / "Groceries_dataset.csv").write_text(
        "Member_number,Date,itemDescription\n1808,21-01-2015,tropical fruit\n2552,05-01-2015,whole milk\n"
        "1808,01-02-2015,whole milk\n"
    )
    for log, folder in (("ta-feng", "tf"), ("groceries", "gr")):
        done = subprocess.run(
            [sys.executable, BENCHMARKS / "log_converters.py", log, tmp_path / folder, tmp_path / f"{log}-out"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        code, _, err = cli("data", "ingest", tmp_path / f"{log}-out", "--data", tmp_path / f"{log}-store", "-q")
        assert code == 0, err
    ta_feng, groceries = Store.open(tmp_path / "ta-feng-store"), Store.open(tmp_path / "groceries-store")
    assert ta_feng.transactions.height == 3 and ta_feng.articles.height == 2
    assert str(ta_feng.first_date) == "2000-11-01" and str(ta_feng.last_date) == "2000-11-09"
    assert sorted(ta_feng.customers["age"].fill_null(-1).to_list()) == [-1, 47]  # the band's midpoint; no band, no age
    assert groceries.transactions.height == 3 and groceries.articles.height == 2 and groceries.customers.height == 2
    assert str(groceries.first_date) == "2015-01-05"


def test_the_suite_averages_each_buyer_over_seeds_and_shows_each_seeds_ratio() -> None:
    """`real_logs.py --seeds`: a row is the seed-averaged ranker, paired per buyer against merge,
    and each seed's ratio is that seed's ranker over that seed's merge."""
    spec = importlib.util.spec_from_file_location("real_logs", BENCHMARKS / "real_logs.py")
    real_logs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(real_logs)
    merge = np.array([0.5, 0.0, 0.5, 0.0])
    by_seed = {
        ("merge (default)", 0): merge,
        ("merge (default)", 1): merge,
        ("lgbm (default)", 0): np.array([1.0, 0.0, 0.5, 0.5]),  # 2.0 / 1.0
        ("lgbm (default)", 1): np.array([0.5, 0.0, 0.5, 0.0]),  # 1.0 / 1.0
    }
    table = real_logs.pooled_table(by_seed, (0, 1))
    lgbm = table["lgbm (default)"]
    assert lgbm["x_merge_by_seed"] == [2.0, 1.0]
    assert lgbm["x_merge"] == 1.5 and lgbm["map@12"]["mean"] == 0.375
    assert lgbm["minus_merge"]["mean"] == 0.125
    assert "x_merge_by_seed" not in real_logs.pooled_table(by_seed, (0,))["lgbm (default)"]
