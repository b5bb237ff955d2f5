"""Bad input: one line naming file, row and problem; exit code 2; nothing written or changed."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.store import Store


def edit_cell(path: Path, row: int, column: str, value: str) -> None:
    """Set one field (row counted from 1, header excluded) of a CSV, keeping everything else as text."""
    df = pl.read_csv(path, infer_schema=False)
    df.with_columns(
        pl.when(pl.int_range(pl.len()) == row - 1).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    ).write_csv(path)


CASES = [
    ("transactions_train.csv", 17, "price", "abc", "transactions_train.csv, row 17: column price: 'abc' is not a valid number"),
    ("transactions_train.csv", 5, "t_dat", "2020-13-01", "transactions_train.csv, row 5: column t_dat: '2020-13-01' is not a valid date (YYYY-MM-DD)"),
    ("transactions_train.csv", 9, "article_id", "12x", "transactions_train.csv, row 9: column article_id: '12x' is not a valid integer"),
    ("transactions_train.csv", 3, "customer_id", "", "transactions_train.csv, row 3: column customer_id: missing value"),
    ("transactions_train.csv", 4, "price", "-1", "transactions_train.csv, row 4: price -1.0 is out of range"),
    ("customers.csv", 12, "age", "old", "customers.csv, row 12: column age: 'old' is not a valid number"),
    ("articles.csv", 2, "article_id", "", "articles.csv, row 2: column article_id: missing value"),
]


def assert_refused(cli, raw: Path, dest: Path, expected: str) -> None:
    code, out, err = cli("data", "ingest", raw, "--data", dest, "-q")
    assert code == 2
    assert err.strip().splitlines() == [f"hmrec: error: {expected}"]
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(("file", "row", "column", "value", "expected"), CASES)
def test_bad_value_names_file_row_and_column(cli, raw: Path, tmp_path: Path, file, row, column, value, expected) -> None:
    edit_cell(raw / file, row, column, value)
    assert_refused(cli, raw, tmp_path / "hm", expected)


def test_duplicated_customer_ids(cli, raw: Path, tmp_path: Path) -> None:
    cust = pl.read_csv(raw / "customers.csv", infer_schema=False)
    pl.concat([cust, cust.slice(3, 1)]).write_csv(raw / "customers.csv")
    dup = cust["customer_id"][3]
    assert_refused(cli, raw, tmp_path / "hm", f"customers.csv, row {cust.height + 1}: duplicated customer_id {dup} (first seen at row 4)")


def test_missing_file(cli, raw: Path, tmp_path: Path) -> None:
    (raw / "customers.csv").unlink()
    assert_refused(cli, raw, tmp_path / "hm", f"no customers file in {raw}: expected customers.csv, .csv.gz or .parquet")


def test_missing_required_column(cli, raw: Path, tmp_path: Path) -> None:
    pl.read_csv(raw / "transactions_train.csv", infer_schema=False).drop("price").write_csv(raw / "transactions_train.csv")
    assert_refused(
        cli, raw, tmp_path / "hm",
        "transactions_train.csv: missing required column 'price' (found: t_dat, customer_id, article_id, sales_channel_id)",
    )


@pytest.mark.parametrize("content", [b"", b"t_dat,customer_id,article_id,price,sales_channel_id\n"])
def test_empty_file(cli, raw: Path, tmp_path: Path, content: bytes) -> None:
    (raw / "transactions_train.csv").write_bytes(content)
    message = "file is empty" if not content else "no data rows"
    expected = f"{raw / 'transactions_train.csv'}: {message}" if not content else f"transactions_train.csv: {message}"
    assert_refused(cli, raw, tmp_path / "hm", expected)


def test_ambiguous_files(cli, raw: Path, tmp_path: Path) -> None:
    pl.read_csv(raw / "customers.csv").write_parquet(raw / "customers.parquet")
    assert_refused(
        cli, raw, tmp_path / "hm",
        f"{raw}: several customers files (customers.csv, customers.parquet); name one with --customers",
    )


def test_failed_ingest_leaves_an_existing_store_untouched(cli, raw: Path, tmp_path: Path) -> None:
    dest = tmp_path / "hm"
    assert cli("data", "ingest", raw, "--data", dest, "-q")[0] == 0
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    edit_cell(raw / "transactions_train.csv", 2, "price", "x")
    code, _, err = cli("data", "ingest", raw, "--data", dest, "-q", "--force")
    assert code == 2 and "row 2: column price" in err
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
    Store.open(dest)


def test_refuses_to_overwrite_a_folder_that_is_not_a_store(cli, raw: Path, tmp_path: Path) -> None:
    precious = tmp_path / "work"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    code, _, err = cli("data", "ingest", raw, "--data", precious, "-q")
    assert code == 2 and "is not an hmrec store" in err
    assert (precious / "notes.txt").read_text() == "keep me"


def test_commands_on_a_missing_store_say_how_to_make_one(cli, tmp_path: Path) -> None:
    code, _, err = cli("data", "info", "--data", tmp_path / "nothing")
    assert code == 2 and "run `hmrec data ingest" in err
