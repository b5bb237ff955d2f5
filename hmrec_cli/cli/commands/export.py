"""`hmrec export`: a cached ranking as a file in the shop's ids."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hmrec_cli.cli.commands.options import (
    Address,
    CacheDir,
    ConfigFile,
    DataDir,
    Engine,
    Json,
    Quiet,
    ShardCount,
    ShardText,
    checked_customers_file,
    checked_engine,
    in_force,
    refuse_inside,
)

FORMATS = (".parquet", ".csv")


def export(
    ctx: typer.Context,
    ranking: Annotated[
        str,
        typer.Option(
            help="A cached ranking: din (the newest for the week on this store) or din@KEY (see `hmrec cache ls`)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="File to write: .parquet or .csv.")],
    week: Annotated[
        str,
        typer.Option(
            help="next (the week after the data), last (= 0), a number of weeks back, or its first day YYYY-MM-DD."
        ),
    ] = "next",
    customers: Annotated[
        Optional[Path],
        typer.Option(
            "--customers",
            help="Only the customers of this file (one id per line, a customer_id header allowed).",
            show_default=False,
        ),
    ] = None,
    shard: ShardText = None,
    engine: Engine = "local",
    address: Address = None,
    shards: ShardCount = 4,
    data: DataDir = Path("hm"),
    cache: CacheDir = Path("cache"),
    config: ConfigFile = None,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Write a ranking's rows, one per (customer, rank): customer_id, rank (1 = first), article_id, score and
    sources (source:rank of each candidate set that proposed the article), in the shop's ids."""
    from hmrec_cli import console, project_config
    from hmrec_cli.cache import Cache
    from hmrec_cli.data.splits import resolve_week
    from hmrec_cli.data.store import Store
    from hmrec_cli.errors import InputError
    from hmrec_cli.pipeline.manifests import RankingManifest
    from hmrec_cli.pipeline.recall import select_customers
    from hmrec_cli.pipeline.recommend import export_rows

    on_ray = checked_engine(engine, shard)
    settings = project_config.load(config)
    forced = in_force(ctx, settings, data=data, cache=cache, shard=shard)
    data, cache = forced.data, forced.cache
    if out.suffix.lower() not in FORMATS:
        raise InputError(f"--out {out}: expected a .parquet or .csv file name")
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give the file's name, e.g. {out / ('recs' + FORMATS[0])}")
    refuse_inside(out, {"store": data, "cache": cache})
    checked_customers_file(customers)
    store = Store.open(data)
    target = resolve_week(week, store.first_date, store.last_date)
    chosen = forced.shard
    found = lambda only_shard: Cache(cache).resolve(  # noqa: E731
        "rankings", ranking, target.start.isoformat(), store.fingerprint, "--ranking", only_shard
    )
    # a shard's own ranking (`rank --shard I/N`) when there is one, else the whole ranking's rows of the shard
    entry = (found(str(chosen)) if chosen is not None and "@" not in ranking else None) or found(None)
    if entry is None:
        hint = console.reproduce("rank", "--ranker", ranking.partition("@")[0], "--week", week, data=data, cache=cache)
        raise InputError(
            f"--ranking {ranking}: no cached {ranking} ranking for the week {target} on this store (run `{hint}` first)"
        )
    wanted = select_customers(store, target, str(customers), None)[0] if customers is not None else None
    if wanted is not None:
        import polars as pl

        held = (
            pl.scan_parquet(entry.path)
            .filter(pl.col("customer").is_in(wanted.implode()))
            .select(pl.col("customer").n_unique())
            .collect()
            .item()
        )
        if held < wanted.len():
            raise InputError(
                f"--customers {customers}: {wanted.len() - held:,} of its customers are not in the ranking {entry.label} "
                f"(it ranks {RankingManifest.of(entry).customers}); rank them with `hmrec rank --customers {customers}`"
            )
    if chosen is not None:  # this shard's customers of the ranking (or of the file)
        from hmrec_cli.pipeline.shards import only

        held = pl_customers(entry.path) if wanted is None else wanted
        wanted = only(held, chosen, store.customers)
    if on_ray:
        rows = _export_on_ray(store, Cache(cache), entry, wanted, out, shards, address, quiet or json)
    else:
        rows = _written(export_rows(store, Cache(cache), entry, wanted), out)
    customer_count = RankingManifest.of(entry).customer_count if wanted is None else wanted.len()
    if json:
        console.emit_json(
            {
                "path": str(out),
                "name": entry.label,
                "week": target.start.isoformat(),
                "rows": rows,
                "customers": customer_count,
            }
        )
        return
    if not quiet:
        console.out.print(
            f"wrote {out}: {rows:,} rows ({console.plural(customer_count, 'customer')}) of {entry.label}, week {target}",
            highlight=False,
            soft_wrap=True,
        )


def _export_on_ray(store, cache, entry, wanted, out: Path, shards: int, address: str | None, quiet: bool) -> int:
    """`--engine ray`: the shards' rows exported as Ray tasks, one progress line per shard, joined into `out`."""
    from hmrec_cli.cli.commands.shard_lines import shard_lines
    from hmrec_cli.pipeline.ray_export import export_on_ray

    customers = pl_customers(entry.path) if wanted is None else wanted
    with shard_lines(quiet) as on_shard:
        return export_on_ray(
            store, cache, entry, customers, lambda chunks: _written(chunks, out), out, shards, address, on_shard
        )


def _written(chunks, out: Path) -> int:
    """`chunks` written to `out` atomically (`_write`); a file that cannot be written is one line naming it."""
    from hmrec_cli.atomic import atomic_file, write_failure
    from hmrec_cli.errors import InputError

    try:
        with atomic_file(out) as tmp:
            return _write(chunks, tmp, out.suffix.lower())
    except Exception as error:
        if (why := write_failure(error)) is None:
            raise
        raise InputError(f"cannot write {out}: {why}") from None


def pl_customers(path: Path):
    """The customers a ranking file holds, sorted."""
    import polars as pl

    return pl.scan_parquet(path).select("customer").unique().sort("customer").collect()["customer"]


def _write(chunks, path: Path, suffix: str) -> int:
    """Stream the chunks to one Parquet or CSV file (one header); the number of rows."""
    import polars as pl
    import pyarrow.parquet as pq

    rows, writer = 0, None
    with open(path, "wb") as handle:
        for i, chunk in enumerate(chunks):
            rows += chunk.height
            if suffix == ".csv":
                chunk.write_csv(handle, include_header=i == 0)
                continue
            table = chunk.to_arrow()
            writer = writer or pq.ParquetWriter(handle, table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()
        elif suffix == ".parquet":  # no rows at all: still a readable file with the columns
            pl.DataFrame(
                schema={
                    "customer_id": pl.String,
                    "rank": pl.UInt32,
                    "article_id": pl.String,
                    "score": pl.Float32,
                    "sources": pl.String,
                }
            ).write_parquet(handle)
    return rows
