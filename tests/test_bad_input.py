"""Bad input: one line naming file, row and problem; exit code 2; nothing written or changed."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from hmrec_cli.data.store import Store


def edit_cell(path: Path, row: int, column: str, value: str) -> None:
    """Set one field (row counted from 1, header excluded) of a CSV, keeping everything else as text."""
    df = pl.read_csv(path, infer_schema=False)
    df.with_columns(
        pl.when(pl.int_range(pl.len()) == row - 1).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    ).write_csv(path)


CASES = [
    (
        "transactions_train.csv",
        17,
        "price",
        "abc",
        "transactions_train.csv, row 17: column price: 'abc' is not a valid number",
    ),
    (
        "transactions_train.csv",
        5,
        "t_dat",
        "2020-13-01",
        "transactions_train.csv, row 5: column t_dat: '2020-13-01' is not a valid date (YYYY-MM-DD)",
    ),
    (
        "transactions_train.csv",
        9,
        "article_id",
        "12x",
        "transactions_train.csv, row 9: column article_id: '12x' is not a valid integer",
    ),
    (
        "transactions_train.csv",
        3,
        "customer_id",
        "",
        "transactions_train.csv, row 3: column customer_id: missing value",
    ),
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


@pytest.mark.bad_input("bad-value")
@pytest.mark.parametrize(("file", "row", "column", "value", "expected"), CASES)
def test_bad_value_names_file_row_and_column(
    cli, raw: Path, tmp_path: Path, file, row, column, value, expected
) -> None:
    edit_cell(raw / file, row, column, value)
    assert_refused(cli, raw, tmp_path / "hm", expected)


@pytest.mark.bad_input("duplicated-id")
def test_duplicated_customer_ids(cli, raw: Path, tmp_path: Path) -> None:
    cust = pl.read_csv(raw / "customers.csv", infer_schema=False)
    pl.concat([cust, cust.slice(3, 1)]).write_csv(raw / "customers.csv")
    dup = cust["customer_id"][3]
    assert_refused(
        cli,
        raw,
        tmp_path / "hm",
        f"customers.csv, row {cust.height + 1}: duplicated customer_id {dup} (first seen at row 4)",
    )


@pytest.mark.bad_input("missing-file")
def test_missing_file(cli, raw: Path, tmp_path: Path) -> None:
    (raw / "customers.csv").unlink()
    assert_refused(
        cli, raw, tmp_path / "hm", f"no customers file in {raw}: expected customers.csv, .csv.gz or .parquet"
    )


@pytest.mark.bad_input("missing-column")
def test_missing_required_column(cli, raw: Path, tmp_path: Path) -> None:
    pl.read_csv(raw / "transactions_train.csv", infer_schema=False).drop("price").write_csv(
        raw / "transactions_train.csv"
    )
    assert_refused(
        cli,
        raw,
        tmp_path / "hm",
        "transactions_train.csv: missing required column 'price' (found: t_dat, customer_id, article_id, sales_channel_id)",
    )


@pytest.mark.bad_input("empty-file")
@pytest.mark.parametrize("content", [b"", b"t_dat,customer_id,article_id,price,sales_channel_id\n"])
def test_empty_file(cli, raw: Path, tmp_path: Path, content: bytes) -> None:
    (raw / "transactions_train.csv").write_bytes(content)
    message = "file is empty" if not content else "no data rows"
    expected = f"{raw / 'transactions_train.csv'}: {message}" if not content else f"transactions_train.csv: {message}"
    assert_refused(cli, raw, tmp_path / "hm", expected)


@pytest.mark.bad_input("ambiguous-files")
def test_ambiguous_files(cli, raw: Path, tmp_path: Path) -> None:
    pl.read_csv(raw / "customers.csv").write_parquet(raw / "customers.parquet")
    assert_refused(
        cli,
        raw,
        tmp_path / "hm",
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


@pytest.mark.bad_input("not-a-store-folder")
def test_refuses_to_overwrite_a_folder_that_is_not_a_store(cli, raw: Path, tmp_path: Path) -> None:
    precious = tmp_path / "work"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    code, _, err = cli("data", "ingest", raw, "--data", precious, "-q")
    assert code == 2 and "is not an hmrec store" in err
    assert (precious / "notes.txt").read_text() == "keep me"


@pytest.mark.bad_input("no-store")
def test_commands_on_a_missing_store_say_how_to_make_one(cli, tmp_path: Path) -> None:
    code, _, err = cli("data", "info", "--data", tmp_path / "nothing")
    assert code == 2 and "run `hmrec data ingest" in err


# Found by trying (issue 10): each of these was accepted silently or ended in a traceback.


def one_line(code: int, err: str) -> str:
    """The error line of a refused command (exit 2, exactly one line on stderr)."""
    assert code == 2 and err.count("\n") == 1, err
    return err.strip().removeprefix("hmrec: error: ")


@pytest.mark.bad_input("future-date")
def test_a_date_after_today_is_refused(cli, raw: Path, tmp_path: Path) -> None:
    edit_cell(raw / "transactions_train.csv", 6, "t_dat", "2999-01-01")
    assert_refused(
        cli, raw, tmp_path / "hm", f"transactions_train.csv, row 6: t_dat 2999-01-01 is after today ({date.today()})"
    )


@pytest.mark.bad_input("date-gap")
def test_a_stray_row_far_past_the_others_is_refused_unless_allowed(cli, raw: Path, tmp_path: Path) -> None:
    tx = pl.read_csv(raw / "transactions_train.csv", infer_schema=False)
    last = date.fromisoformat(tx["t_dat"].max())
    late = (last + timedelta(days=60)).isoformat()
    edit_cell(raw / "transactions_train.csv", 9, "t_dat", late)
    last_row = int(tx.with_row_index("row", offset=1).filter(pl.col("t_dat") == last.isoformat())["row"][0])
    expected = (
        f"transactions_train.csv, row 9: t_dat {late} is 60 days after the previous date ({last}, row {last_row})"
    )
    assert_refused(cli, raw, tmp_path / "hm", f"{expected}; --allow-gaps accepts it")
    code, _, err = cli("data", "ingest", raw, "--data", tmp_path / "hm", "-q", "--allow-gaps")
    assert code == 0 and f"warning: {expected}; accepted (--allow-gaps)" in err
    assert Store.open(tmp_path / "hm").last_date.isoformat() == late


@pytest.mark.bad_input("non-finite-price")
@pytest.mark.parametrize("value", ["inf", "-inf"])
def test_an_infinite_price_is_refused(cli, raw: Path, tmp_path: Path, value: str) -> None:
    edit_cell(raw / "transactions_train.csv", 11, "price", value)
    assert_refused(cli, raw, tmp_path / "hm", f"transactions_train.csv, row 11: price {value} is not a finite number")


def test_an_absurd_price_is_kept_with_a_warning(cli, raw: Path, tmp_path: Path) -> None:
    edit_cell(raw / "transactions_train.csv", 11, "price", "1e30")
    code, _, err = cli("data", "ingest", raw, "--data", tmp_path / "hm", "-q")
    assert code == 0 and "warning: transactions_train.csv: 1 prices above 1e+06 (first at row 11: 1e+30); kept" in err
    edit_cell(raw / "transactions_train.csv", 11, "price", "500")
    code, _, err = cli("data", "ingest", raw, "--data", tmp_path / "hm2", "-q", "--max-price", "100")
    assert code == 0 and "1 prices above 100 (first at row 11: 500)" in err


@pytest.mark.bad_input("non-utf8")
def test_bytes_that_are_not_utf8_name_the_file_and_row(cli, raw: Path, tmp_path: Path) -> None:
    lines = (raw / "customers.csv").read_bytes().split(b"\n")
    lines[12] = lines[12].replace(b",", b",\xff\xfe", 1)  # data row 12 (line 13)
    (raw / "customers.csv").write_bytes(b"\n".join(lines))
    assert_refused(
        cli, raw, tmp_path / "hm", "customers.csv, row 12: bytes that are not UTF-8 text (save the file as UTF-8)"
    )


@pytest.mark.bad_input("ragged-row")
def test_a_row_with_extra_fields_is_named(cli, raw: Path, tmp_path: Path) -> None:
    lines = (raw / "transactions_train.csv").read_text().split("\n")
    lines[7] += ",1"
    (raw / "transactions_train.csv").write_text("\n".join(lines))
    assert_refused(cli, raw, tmp_path / "hm", "transactions_train.csv, row 7: 6 fields, the header has 5")


@pytest.mark.bad_input("named-file-missing")
def test_a_named_file_that_does_not_exist(cli, raw: Path, tmp_path: Path) -> None:
    code, _, err = cli("data", "ingest", raw, "--data", tmp_path / "hm", "-q", "--transactions", tmp_path / "nope.csv")
    assert one_line(code, err) == f"--transactions {tmp_path / 'nope.csv'}: no such file"
    assert not (tmp_path / "hm").exists()


@pytest.mark.bad_input("data-is-a-file")
def test_data_naming_a_file(cli, raw: Path, store_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    assert (
        one_line(*cli("data", "ingest", raw, "--data", target, "-q")[::2])
        == f"--data {target}: is a file; give a folder for the store"
    )
    assert one_line(*cli("data", "info", "--data", target)[::2]).startswith(f"--data {target}: is a file")
    assert target.read_text() == "keep me"


@pytest.mark.bad_input("manifest-unreadable")
@pytest.mark.parametrize("content", [b"", b"\x00garbage{", b"[1, 2]"])
def test_a_store_whose_manifest_is_empty_or_garbage(cli, store_dir: Path, tmp_path: Path, content: bytes) -> None:
    store = Path(shutil.copytree(store_dir, tmp_path / "hm"))
    (store / "manifest.json").write_bytes(content)
    message = one_line(*cli("data", "info", "--data", store)[::2])
    assert (
        message
        == f"{store / 'manifest.json'}: not a readable store manifest; run `hmrec data ingest RAW_FOLDER --force --data {store}`"
    )


@pytest.mark.bad_input("store-table-damaged")
def test_a_truncated_store_table(cli, store_dir: Path, tmp_path: Path) -> None:
    store = Path(shutil.copytree(store_dir, tmp_path / "hm"))
    table = store / "transactions.parquet"
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
    message = one_line(*cli("data", "info", "--data", store)[::2])
    assert message.startswith(f"{table}: damaged store table (") and message.endswith(f"--force --data {store}`")


@pytest.mark.bad_input("store-unwritable")
def test_a_full_disk_during_ingest_is_one_line_and_leaves_nothing(
    cli, raw: Path, tmp_path: Path, file_size_limit
) -> None:
    dest = tmp_path / "out" / "hm"
    with file_size_limit(50_000):
        code, _, err = cli("data", "ingest", raw, "--data", dest, "-q")
    assert one_line(code, err).startswith(f"cannot write the store {dest}: File too large")
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def customers_file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "ids.txt"
    path.write_bytes(content)
    return path


@pytest.mark.bad_input("customers-file")
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", ": file is empty (expected one customer id per line)"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xd8",
            ", line 1: not text (expected one customer id per line)",
        ),
        (b"customer_id\nabc,1\n", ", line 2: several columns (expected one customer id per line)"),
        (b"customer_id\n\n", ": no customer ids in it"),
    ],
)
def test_a_customers_file_that_holds_no_ids(cli, store_dir: Path, tmp_path: Path, content: bytes, problem: str) -> None:
    path = customers_file(tmp_path, content)
    code, _, err = cli(
        "recall", "--method", "popular", "--data", store_dir, "--cache", tmp_path / "cache", "--customers", path
    )
    assert one_line(code, err) == f"--customers {path}{problem}"
    assert not (tmp_path / "cache").exists()


def test_unknown_ids_in_a_customers_file_are_counted_and_shown(cli, store_dir: Path, tmp_path: Path) -> None:
    known = Store.open(store_dir).customers["customer_id"].head(3).to_list()
    path = customers_file(tmp_path, "\n".join(["customer_id", *known, "nobody-1", "nobody-2"]).encode())
    code, _, err = cli(
        "recall",
        "--method",
        "popular",
        "--data",
        store_dir,
        "--cache",
        tmp_path / "cache",
        "--customers",
        path,
        "--week",
        "1",
    )
    assert (
        code == 0
        and "warning: --customers ids.txt: 2 ids are not in the store and were left out (first: nobody-1, nobody-2)"
        in err
    )


@pytest.mark.bad_input("out-is-a-folder")
def test_submit_out_naming_a_folder(cli, store_dir: Path, tmp_path: Path) -> None:
    code, _, err = cli(
        "submit", "--data", store_dir, "--cache", tmp_path / "cache", "--candidates", "popular", "--out", tmp_path
    )
    assert one_line(code, err).startswith(f"--out {tmp_path}: is a folder")
    assert not (tmp_path / "cache").exists()


@pytest.mark.bad_input("parameter-out-of-range")
@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("window_days=-7", "-o window_days=-7: popular's window_days must be from 1 to 3660"),
        ("window_days=0", "-o window_days=0: popular's window_days must be from 1 to 3660"),
        ("half_life_days=nan", "-o half_life_days=nan: popular needs a finite number"),
    ],
)
def test_a_parameter_outside_its_range_names_the_range(
    cli, store_dir: Path, tmp_path: Path, option: str, message: str
) -> None:
    code, _, err = cli(
        "recall", "--method", "popular", "--data", store_dir, "--cache", tmp_path / "cache", "-o", option
    )
    assert one_line(code, err) == message
    assert not (tmp_path / "cache").exists()


@pytest.mark.bad_input("option-prefix-unknown")
@pytest.mark.parametrize("command", ["submit", "evaluate"])
def test_a_misspelt_option_prefix_is_refused_everywhere(cli, store_dir: Path, tmp_path: Path, command: str) -> None:
    where = ["--out", tmp_path / "s.csv"] if command == "submit" else ["--week", "1"]
    code, _, err = cli(
        command,
        "--data",
        store_dir,
        "--cache",
        tmp_path / "cache",
        "--candidates",
        "popular,repurchase",
        "-o",
        "popularr:window_days=3",
        *where,
    )
    assert one_line(code, err) == "-o popularr:window_days=3: popularr is not one of the methods (popular, repurchase)"
    assert not (tmp_path / "cache").exists() and not (tmp_path / "s.csv").exists()


def test_every_plugin_declares_the_valid_values_of_its_numeric_parameters() -> None:
    import dataclasses
    import typing

    from hmrec_cli.params import declared
    from hmrec_cli.registry import discover

    for info in discover():
        params = info.load().Params
        hints = typing.get_type_hints(params)
        for f in dataclasses.fields(params):
            if hints[f.name] in (int, float):
                assert declared(f).valid is not None, f"{info.name}: {f.name} declares no valid values"
