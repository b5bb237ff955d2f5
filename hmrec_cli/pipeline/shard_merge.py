"""Joining the shards' submission files (`hmrec submit --shard I/N`) into one validated submission."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hmrec_cli.atomic import refuse_inside
from hmrec_cli.data.splits import resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.pipeline.submission import fill_order, validate, write


def shard_files(folder: Path) -> list[Path]:
    """The submission parts in `folder` (`*.csv`, sorted by name), for `submit --shards-dir`."""
    if not folder.is_dir():
        raise InputError(f"--shards-dir {folder}: no such folder")
    parts = sorted(p for p in folder.glob("*.csv") if p.is_file())
    if not parts:
        raise InputError(f"--shards-dir {folder}: holds no .csv submission parts")
    return parts


def joined_parts(parts: list[Path], expected: pl.DataFrame) -> pl.DataFrame:
    """The shards' submissions as one, in `expected`'s customer order (the order an unsharded
    submission writes): every part must be a submission (customer_id, prediction), no customer may
    be in two parts and every customer of `expected` (column customer_id) must be in one."""
    frames = []
    for part in parts:
        try:
            frame = pl.read_csv(part, schema={"customer_id": pl.String, "prediction": pl.String})
        except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as error:
            raise InputError(
                f"--merge {part}: not a submission part (customer_id,prediction): {str(error).splitlines()[0]}"
            ) from None
        if part.stat().st_size and pl.read_csv(part, n_rows=0).columns != ["customer_id", "prediction"]:
            raise InputError(f"--merge {part}: not a submission part (expected the header customer_id,prediction)")
        frames.append(frame.with_columns(part=pl.lit(str(part))))
    rows = pl.concat(frames)
    twice = rows.filter(pl.col("customer_id").is_duplicated())
    if twice.height:
        where = twice.filter(pl.col("customer_id") == twice["customer_id"][0])["part"].to_list()
        raise InputError(
            f"--merge: customer {twice['customer_id'][0]} is in {' and '.join(where)} "
            f"({twice['customer_id'].n_unique():,} customers overlap): parts of different shardings?"
        )
    ids = expected.select(pl.col("customer_id").cast(pl.String))
    unknown = rows.join(ids, on="customer_id", how="anti")
    if unknown.height:
        raise InputError(
            f"--merge {unknown['part'][0]}: customer {unknown['customer_id'][0]} is not a customer of this store"
        )
    missing = ids.join(rows, on="customer_id", how="anti")
    if missing.height:
        raise InputError(
            f"--merge: {missing.height:,} customers are in no part (first: {missing['customer_id'][0]}); a shard is missing"
        )
    return ids.join(rows, on="customer_id", how="left", maintain_order="left").select("customer_id", "prediction")


def write_merged(data: Path, parts: list[Path], out: Path, command: dict | None = None) -> int:
    """Join `parts` into `out` in the order an unsharded `hmrec submit` writes (every submission
    customer once), validate it as a submission, write it and its sidecar atomically; its rows."""
    refuse_inside(out, {"store": data})
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give the submission file's name, e.g. {out / 'submission.csv'}")
    store = Store.open(data)
    week = resolve_week("next", store.first_date, store.last_date)
    expected = (
        pl.DataFrame({"customer": store.submission_customers})
        .join(store.customers.select("customer", "customer_id"), on="customer", maintain_order="left")
        .select("customer_id")
    )
    submission = joined_parts(parts, expected)
    try:
        validate(submission, store, fill_order(store, week).height)
    except RuntimeError as error:
        raise InputError(f"--merge: the joined parts are not a valid submission: {error}") from None
    write(submission, out, store, week, command)
    return submission.height
