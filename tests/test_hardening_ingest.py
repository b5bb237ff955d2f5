"""Hardening II (issue 26), ingest side: the sample submission's ids, store manifests with bad values,
`--data LINK`, ingest messages, outputs of the wrong kind, a damaged oracle, and `data synth`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from test_bad_input import edit_cell

from hmrec_cli.data.store import Store


def one_line(code: int, err: str) -> str:
    """The single error line of a refused command (exit 2), without its prefix."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hmrec: error: "), err
    return lines[0].removeprefix("hmrec: error: ")


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) with its content's hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def ingest_cli(cli, raw: Path, dest: Path, *extra: str) -> tuple[int, str, str]:
    return cli("data", "ingest", raw, "--data", dest, "-q", *extra)


# item 4: the sample submission's customer ids


@pytest.mark.bad_input("submission-id-blank")
def test_a_blank_customer_id_in_the_sample_submission_is_refused_naming_the_row(cli, raw: Path, tmp_path: Path) -> None:
    edit_cell(raw / "sample_submission.csv", 7, "customer_id", "")
    message = one_line(*ingest_cli(cli, raw, tmp_path / "hm")[::2])
    assert message == "sample_submission.csv, row 7: column customer_id: missing value"
    assert not (tmp_path / "hm").exists()


@pytest.mark.bad_input("submission-id-repeated")
def test_repeated_sample_submission_customers_are_dropped_with_a_warning_and_submit_works(
    cli, raw: Path, tmp_path: Path
) -> None:
    path = raw / "sample_submission.csv"
    sub = pl.read_csv(path, infer_schema=False)
    pl.concat([sub, sub.slice(4, 2), sub.slice(4, 1)]).write_csv(path)
    report = cli.json("data", "ingest", raw, "--data", tmp_path / "hm")
    assert report["warnings"] == [
        f"sample_submission.csv: 3 repeated customer_id rows dropped (first at row {sub.height + 1}: "
        f"{sub['customer_id'][4]}); each customer is kept once, where first listed"
    ]
    assert Store.open(tmp_path / "hm").submission_customers.len() == sub.height
    code, _, err = cli(
        "submit",
        "--data",
        tmp_path / "hm",
        "--cache",
        tmp_path / "cache",
        "--candidates",
        "popular",
        "--out",
        tmp_path / "s.csv",
    )
    assert code == 0, err
    written = pl.read_csv(tmp_path / "s.csv", infer_schema=False)
    assert written["customer_id"].to_list() == sub["customer_id"].to_list()


# item 7: a manifest that is JSON with bad values


def with_manifest(store_dir: Path, tmp_path: Path, **values) -> Path:
    store = Path(shutil.copytree(store_dir, tmp_path / "hm"))
    manifest = json.loads((store / "manifest.json").read_text())
    (store / "manifest.json").write_text(json.dumps({**manifest, **values}))
    return store


BAD_MANIFESTS = [
    ({"last_date": "garbage"}, "last_date 'garbage' is not a date (YYYY-MM-DD)"),
    ({"first_date": None}, "first_date None is not a date (YYYY-MM-DD)"),
    ({"fingerprint": 12345}, "fingerprint 12345 is not 16 hex digits"),
    ({"first_date": "2021-01-01"}, "first_date 2021-01-01 is after last_date 2020-09-22"),
    ({"warnings": 5}, "warnings is not a list of texts"),
    ({"rows": None}, "rows is not a table of row counts"),
]


@pytest.mark.bad_input("manifest-bad-value")
@pytest.mark.parametrize(("values", "problem"), BAD_MANIFESTS)
def test_a_manifest_with_a_bad_value_is_one_line_in_every_command(
    cli, store_dir: Path, tmp_path: Path, values: dict, problem: str
) -> None:
    store = with_manifest(store_dir, tmp_path, **values)
    expected = f"{store / 'manifest.json'}: {problem}; run `hmrec data ingest --force` again"
    assert one_line(*cli("data", "info", "--data", store)[::2]) == expected
    assert one_line(*cli("data", "weeks", "--data", store)[::2]) == expected
    assert (
        one_line(*cli("recall", "--data", store, "--cache", tmp_path / "cache", "--method", "popular")[::2]) == expected
    )


def test_doctor_reports_a_bad_manifest_as_broken(cli, store_dir: Path, tmp_path: Path) -> None:
    store = with_manifest(store_dir, tmp_path, last_date="garbage")
    code, out, _ = cli("doctor", "--data", store, "--cache", tmp_path / "cache", "--json")
    assert code == 1
    assert json.loads(out)["broken"] == [
        f"{store}: {store / 'manifest.json'}: last_date 'garbage' is not a date (YYYY-MM-DD); run `hmrec data ingest --force` again"
    ]


def test_ingest_rebuilds_a_store_whose_manifest_has_bad_values_without_force(cli, raw: Path, tmp_path: Path) -> None:
    assert ingest_cli(cli, raw, tmp_path / "hm")[0] == 0
    manifest = tmp_path / "hm" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "rows": None}))
    code, out, err = ingest_cli(cli, raw, tmp_path / "hm")
    assert code == 0, err and "already holds" not in out
    assert Store.open(tmp_path / "hm").manifest["rows"]["transactions"] > 0


# item 13: --data LINK


def test_ingest_force_through_a_link_rebuilds_its_target_and_keeps_the_link(cli, raw: Path, tmp_path: Path) -> None:
    target, link = tmp_path / "disk" / "hm", tmp_path / "hm"
    assert ingest_cli(cli, raw, target)[0] == 0
    link.symlink_to(target, target_is_directory=True)
    manifest = target / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "created": "old"}))
    code, _, err = ingest_cli(cli, raw, link, "--force")
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert json.loads(manifest.read_text())["created"] != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk", "hm", "kaggle"]
    assert [p.name for p in target.parent.iterdir()] == ["hm"]


# item 16: ingest messages


@pytest.mark.bad_input("bad-value")
def test_a_blank_sales_channel_names_the_file_row_and_column(cli, raw: Path, tmp_path: Path) -> None:
    edit_cell(raw / "transactions_train.csv", 6, "sales_channel_id", "")
    message = one_line(*ingest_cli(cli, raw, tmp_path / "hm")[::2])
    assert message == "transactions_train.csv, row 6: column sales_channel_id: missing value"


@pytest.mark.bad_input("date-with-time")
@pytest.mark.parametrize("suffix", [" 13:45:00", "T13:45:00Z", "T23:59:59.5+02:00"])
def test_a_date_with_a_time_reads_as_its_day_in_csv_and_parquet_alike(
    cli, raw: Path, tmp_path: Path, suffix: str
) -> None:
    assert ingest_cli(cli, raw, tmp_path / "plain")[0] == 0
    path = raw / "transactions_train.csv"
    tx = pl.read_csv(path, infer_schema=False)
    tx.with_columns(pl.col("t_dat") + suffix).write_csv(path)
    code, _, err = ingest_cli(cli, raw, tmp_path / "csv")
    assert code == 0, err
    path.unlink()
    tx.with_columns(pl.col("t_dat").str.to_datetime("%Y-%m-%d") + pl.duration(hours=13)).write_parquet(
        raw / "transactions_train.parquet"
    )
    code, _, err = ingest_cli(cli, raw, tmp_path / "parquet")
    assert code == 0, err
    plain = Store.open(tmp_path / "plain").transactions
    assert Store.open(tmp_path / "csv").transactions.equals(plain)
    assert Store.open(tmp_path / "parquet").transactions.equals(plain)


@pytest.mark.bad_input("date-with-time")
@pytest.mark.parametrize("value", ["2020-05-06 garbage", "2020-05-06X13:45", "2020-05-06 25"])
def test_a_date_followed_by_something_else_names_the_row(cli, raw: Path, tmp_path: Path, value: str) -> None:
    edit_cell(raw / "transactions_train.csv", 8, "t_dat", value)
    message = one_line(*ingest_cli(cli, raw, tmp_path / "hm")[::2])
    assert message == f"transactions_train.csv, row 8: column t_dat: {value!r} is not a valid date (YYYY-MM-DD)"


def test_a_missing_sales_channel_column_is_a_warning(cli, raw: Path, tmp_path: Path) -> None:
    path = raw / "transactions_train.csv"
    pl.read_csv(path, infer_schema=False).drop("sales_channel_id").write_csv(path)
    report = cli.json("data", "ingest", raw, "--data", tmp_path / "hm")
    assert report["warnings"] == [
        "transactions_train.csv: no sales_channel_id column; every row gets channel 0 (unknown)"
    ]


@pytest.mark.bad_input("duplicated-column")
def test_a_column_named_twice_in_the_header_is_refused(cli, raw: Path, tmp_path: Path) -> None:
    path = raw / "transactions_train.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("t_dat,customer_id,article_id,price,price\n" + "".join(lines[1:]))
    message = one_line(*ingest_cli(cli, raw, tmp_path / "hm")[::2])
    assert message == "transactions_train.csv: column 'price' appears twice in the header"
    assert not (tmp_path / "hm").exists()


# item 17: outputs of the wrong kind, a damaged oracle


@pytest.mark.bad_input("out-is-a-file")
def test_sample_and_synth_out_naming_a_file(cli, store_dir: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    assert (
        one_line(*cli("data", "sample", "--data", store_dir, "--out", notes)[::2])
        == f"--out {notes}: is a file; give a folder for the sampled store"
    )
    assert (
        one_line(*cli("data", "synth", "--scale", "tiny", "--out", notes, "-q")[::2])
        == f"--out {notes}: is a file; give a folder for the synthetic files"
    )
    assert notes.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.bad_input("out-is-a-folder")
def test_report_out_naming_a_folder(cli, store_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "page.html"
    folder.mkdir()
    message = one_line(*cli("report", "--data", store_dir, "--cache", tmp_path / "cache", "--out", folder)[::2])
    assert message == f"--out {folder}: is a folder; give the HTML file to write"
    assert list(folder.iterdir()) == []


@pytest.mark.bad_input("oracle-damaged")
@pytest.mark.parametrize("kind", ["garbage", "wrong-types"])
def test_a_damaged_oracle_in_a_raw_folder_is_refused_at_ingest(cli, raw: Path, tmp_path: Path, kind: str) -> None:
    oracle = raw / "oracle.parquet"
    if kind == "garbage":
        oracle.write_bytes(b"not parquet at all")
    else:
        pl.DataFrame({"week": ["x"], "customer_id": [1], "article_id": [[1]], "probability": [[0.5]]}).write_parquet(
            oracle
        )
    message = one_line(*ingest_cli(cli, raw, tmp_path / "hm")[::2])
    assert message.startswith("oracle.parquet: not a readable oracle file (")
    assert not (tmp_path / "hm").exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.bad_input("oracle-damaged")
def test_a_damaged_oracle_in_a_store_is_one_line_where_it_is_read(cli, store_dir: Path, tmp_path: Path) -> None:
    store = Path(shutil.copytree(store_dir, tmp_path / "hm"))
    (store / "oracle.parquet").write_bytes(b"not parquet at all")
    expected = f"{store / 'oracle.parquet'}: damaged store table ("
    assert one_line(*cli("data", "weeks", "--data", store)[::2]).startswith(expected)
    assert one_line(*cli("data", "sample", "--data", store, "--out", tmp_path / "s")[::2]).startswith(expected)
    assert not (tmp_path / "s").exists()


# item 19: data synth


def test_synth_without_report_builds_no_store_and_prints_no_report(cli, monkeypatch, tmp_path: Path) -> None:
    def no_ingest(*args, **kwargs):
        raise AssertionError("synth without --report ingested")

    monkeypatch.setattr("hmrec_cli.data.ingest.ingest", no_ingest)
    code, out, err = cli("data", "synth", "--scale", "tiny", "--out", tmp_path / "w", "-q")
    assert code == 0, err
    assert "beside the real" not in out and out.startswith(f"wrote {tmp_path / 'w'}")
    summary = cli.json("data", "synth", "--scale", "tiny", "--out", tmp_path / "w")
    assert "facts" not in summary and summary["rows"] > 0
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [
        "articles.csv",
        "customers.csv",
        "oracle.parquet",
        "sample_submission.csv",
        "transactions_train.csv",
    ]


def test_synth_with_report_still_ingests_and_reports(cli, tmp_path: Path) -> None:
    code, out, err = cli("data", "synth", "--scale", "tiny", "--out", tmp_path / "w", "-q", "--report")
    assert code == 0, err and "beside the real H&M data" in out
    assert "facts" in cli.json("data", "synth", "--scale", "tiny", "--out", tmp_path / "w", "--report")
    assert [p.name for p in (tmp_path / "w").iterdir() if p.name.startswith(".")] == []


@pytest.mark.bad_input("synth-out-holds-data")
def test_synth_into_a_folder_with_other_data_files_is_refused_before_writing(cli, raw: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(raw / "customers.csv", folder / "customers_2019.csv")
    (folder / "notes.txt").write_text("keep me")
    before = snapshot(folder)
    message = one_line(*cli("data", "synth", "--scale", "tiny", "--out", folder, "--report")[::2])
    assert (
        message
        == f"--out {folder}: holds other data files (customers_2019.csv) that ingest would read beside the world's; choose another folder"
    )
    assert snapshot(folder) == before and sorted(p.name for p in folder.iterdir()) == [
        "customers_2019.csv",
        "notes.txt",
    ]
