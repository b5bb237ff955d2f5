"""`hmrec data ingest`: Kaggle-format tables -> the Parquet store (see store.py for its layout).

The transactions file is streamed: only five compact columns (17 bytes a row) are ever held, so the
full 31.8M-row competition file ingests in bounded memory. Customer ids become dense u32 indexes by
a streaming, order-keeping join (`replace_strict` was as fast but held 4.6 GiB at full scale, the
join 1.4 GiB); article ids, which fit in u32, are mapped afterwards.

Real-data quirks handled here, each counted in a warning:
- transactions whose article is missing from the articles file: the article is kept, with null
  metadata, `product_code = article_id // 1000` (H&M ids are product code + 3-digit variant) and
  `known = false`;
- transactions (or sample-submission rows) whose customer is missing from the customers file: kept
  the same way, with null metadata;
- a transactions file without `sales_channel_id`: every row gets channel 0 (= unknown);
- extra columns (such as a pandas index column) are ignored.

A synthetic world (`hmrec data synth`) also leaves `oracle.parquet` beside its CSV files: the true
top-100 articles of each buyer in its last weeks. Ingest keeps it in the store, so `evaluate` can
show the best achievable score beside every result.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from hmrec_cli import __version__
from hmrec_cli.atomic import atomic_dir, write_failure
from hmrec_cli.data.kaggle_tables import (
    ARTICLES,
    CUSTOMERS,
    SAMPLE_SUBMISSION,
    TRANSACTIONS,
    UNKNOWN_CHANNEL,
    RawTable,
    TableSpec,
    find_table,
    first_line,
)
from hmrec_cli.data.order_log import OrderLog, customer_frame, kaggle_shaped, read_order_log
from hmrec_cli.data.store import (
    MANIFEST,
    ORACLE_FILE,
    SCHEMA_VERSION,
    Store,
    content_fingerprint,
    manifest_problem,
    read_manifest,
)
from hmrec_cli.errors import InputError
from hmrec_cli.integrity import DAY, remove_orphans, store_temps

ARTICLE_NAME_COLUMNS = tuple(
    c.name for c in ARTICLES.columns if c.parse == pl.String() and c.name not in ("prod_name", "detail_desc")
)
ARTICLE_CODE_COLUMNS = tuple(c.name for c in ARTICLES.columns if c.parse == pl.Int64() and c.name != "article_id")


@dataclass
class IngestReport:
    """What an ingest did, for the CLI to print."""

    store: Path
    skipped: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def locate_sources(folder: Path | None, overrides: dict[str, Path | None]) -> dict[str, Path]:
    """Map table name -> file, from explicit paths first and then by name inside `folder`."""
    if folder is not None and not folder.is_dir():
        raise InputError(f"{folder}: not a folder (give the folder that holds the Kaggle CSV files)")
    found: dict[str, Path] = {}
    for name, path in overrides.items():
        if path is not None and not path.is_file():
            problem = "is a folder, not a file" if path.is_dir() else "no such file"
            raise InputError(f"--{name.replace('_', '-')} {path}: {problem}")
    for spec in (TRANSACTIONS, CUSTOMERS, ARTICLES, SAMPLE_SUBMISSION):
        path = overrides.get(spec.name) or (find_table(folder, spec) if folder else None)
        if path is None and spec is not SAMPLE_SUBMISSION:
            where = f"in {folder}" if folder else "(no folder given)"
            raise InputError(f"no {spec.name} file {where}: expected {spec.stems[0]}.csv, .csv.gz or .parquet")
        if path is not None:
            found[spec.name] = path
    oracle = overrides.get("oracle") or (folder / ORACLE_FILE if folder and (folder / ORACLE_FILE).is_file() else None)
    if oracle is not None:
        found["oracle"] = oracle
    return found


def _read_oracle(path: Path, customers: pl.DataFrame, articles: pl.DataFrame, report: IngestReport) -> pl.DataFrame:
    """The synthetic world's true top-100 lists, mapped onto the store's dense ids; a file that is
    not Parquet, or whose columns have other types than synth writes, is one line naming it."""
    try:
        oracle = pl.read_parquet(path)
        expected = {"week", "customer_id", "article_id", "probability"}
        if not expected <= set(oracle.columns):
            raise InputError(f"{path.name}: expected columns {', '.join(sorted(expected))}")
        return _map_oracle(path, oracle, customers, articles, report)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise InputError(f"{path.name}: not a readable oracle file ({first_line(error)})") from None


def _map_oracle(
    path: Path, oracle: pl.DataFrame, customers: pl.DataFrame, articles: pl.DataFrame, report: IngestReport
) -> pl.DataFrame:
    mapped = oracle.join(customers.select("customer_id", "customer"), on="customer_id", how="inner")
    if mapped.height < oracle.height:
        report.warnings.append(
            f"{path.name}: {oracle.height - mapped.height} customers unknown to the store were dropped"
        )
    ids, idx = articles["article_id"].cast(pl.Int64), articles["article"]
    weeks, unknown = [], 0
    for week in mapped["week"].unique().sort():  # a week at a time: 100 entries a buyer add up
        long = (
            mapped.filter(pl.col("week") == week)
            .select(
                pl.col("week").cast(pl.Date), "customer", "article_id", pl.col("probability").cast(pl.List(pl.Float32))
            )
            .explode("article_id", "probability")
            .with_columns(article=pl.col("article_id").replace_strict(ids, idx, default=None, return_dtype=pl.UInt32))
        )
        unknown += long["article"].null_count()
        weeks.append(
            long.drop_nulls("article").group_by("week", "customer", maintain_order=True).agg("article", "probability")
        )
    if unknown:
        report.warnings.append(f"{path.name}: {unknown} entries name articles missing from the articles file; dropped")
    return pl.concat(weeks).sort("week", "customer")


def source_signature(sources: dict[str, Path]) -> dict[str, dict]:
    """Path, size and modification time of each source: equal signatures mean nothing to redo."""
    sig = {}
    for name, path in sorted(sources.items()):
        st = path.stat()
        sig[name] = {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    return sig


@dataclass(frozen=True)
class DataChecks:
    """What ingest refuses or warns about beyond the file format: a gap of more than `max_gap_days`
    between consecutive dates is refused unless `allow_gaps` (then a warning); prices above
    `max_price` are kept with a warning (the Kaggle prices are below 1)."""

    allow_gaps: bool = False
    max_gap_days: int = 28
    max_price: float = 1e6


def ingest(
    sources: dict[str, Path],
    dest: Path,
    force: bool = False,
    on_stage: Callable[[str], None] = lambda stage: None,
    checks: DataChecks = DataChecks(),
    order_log: OrderLog | None = None,
) -> IngestReport:
    """Build the store at `dest` from `sources` (or from `order_log`, whose files are the sources);
    skip when `dest` already holds exactly this input."""
    start = time.perf_counter()
    report = IngestReport(store=dest)
    if order_log is not None:
        sources = order_log.sources()
    signature = source_signature(sources)
    if order_log is not None:  # the same files read with another mapping are another input
        signature["mapping"] = order_log.mapping()
    if dest.is_file():
        raise InputError(f"--data {dest}: is a file; give a folder for the store")
    if dest.exists():
        if not (dest / MANIFEST).is_file():
            if any(dest.iterdir()):
                raise InputError(f"{dest}: folder exists and is not an hmrec store; choose another --data")
        elif not force:
            old = read_manifest(dest / MANIFEST) or {}  # an unreadable manifest: the store is rebuilt
            intact = "rows" in old and manifest_problem(old) is None
            if intact and old.get("schema_version") == SCHEMA_VERSION and old.get("sources") == signature:
                report.skipped = True
                report.rows = old["rows"]
                return report
    # `--data LINK`: the store is rebuilt where the link points and the link stays (swapping the
    # link itself for a folder would leave the old store behind, unseen, where it pointed)
    target = dest.resolve() if dest.is_symlink() else dest
    try:
        _build(sources, target, signature, report, checks, on_stage, order_log)
    except InputError:
        raise
    except Exception as error:  # a read-only or full disk: name what could not be written
        if (why := write_failure(error)) is None:
            raise
        raise InputError(f"cannot write the store {dest}: {why}") from None
    Store.open(dest)  # the finished store must open; fail loudly here rather than in a later command
    report.seconds = time.perf_counter() - start
    return report


def _build(
    sources: dict[str, Path],
    dest: Path,
    signature: dict,
    report: IngestReport,
    checks: DataChecks,
    on_stage,
    order_log: OrderLog | None = None,
) -> None:
    """Read the sources (Kaggle tables, or one order log) and write the store beside `dest`, then swap it in whole."""
    remove_orphans(store_temps(dest), DAY)  # what a killed ingest left beside the store a day ago
    scratch_parent = dest.parent if dest.parent.exists() else None
    with (
        tempfile.TemporaryDirectory(prefix=f".hmrec-ingest-{os.getpid()}-", dir=scratch_parent) as scratch,
        atomic_dir(dest) as out,
    ):
        if order_log is None:
            tables = _kaggle_tables(sources, Path(scratch), report, checks, on_stage)
        else:
            on_stage("orders")
            tables = _order_log_tables(order_log, Path(scratch), report, checks)
        on_stage("write")
        for name, frame in tables.items():
            frame.write_parquet(out / f"{name}.parquet", statistics=True)
        report.rows = {name: frame.height for name, frame in tables.items()}
        tx = tables["transactions"]
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "hmrec_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sources": signature,
            **({"order_log": order_log.mapping()} if order_log is not None else {}),
            "rows": report.rows,
            "first_date": str(tx["t_dat"].min()),
            "last_date": str(tx["t_dat"].max()),
            "warnings": report.warnings,
            "fingerprint": content_fingerprint(tables),
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _kaggle_tables(
    sources: dict[str, Path], scratch_dir: Path, report: IngestReport, checks: DataChecks, on_stage
) -> dict[str, pl.DataFrame]:
    """The store's tables from the Kaggle files."""
    on_stage("customers")
    customers = _read_customers(RawTable(sources["customers"], CUSTOMERS, scratch_dir), report)
    on_stage("articles")
    articles = _read_articles(RawTable(sources["articles"], ARTICLES, scratch_dir), report)
    submission_ids = None
    if "sample_submission" in sources:
        submission_ids = _read_submission_ids(
            RawTable(sources["sample_submission"], SAMPLE_SUBMISSION, scratch_dir), report
        )
        customers = _add_unknown_customers(customers, submission_ids, "sample submission", report)
    on_stage("transactions")
    tx_raw = RawTable(sources["transactions"], TRANSACTIONS, scratch_dir)
    _note_ignored(tx_raw, report)
    tx, customers = _read_transactions(tx_raw, customers, report, checks)
    tx, articles = _map_articles(tx, articles, report)
    tables = {"transactions": tx, "customers": customers, "articles": articles}
    if submission_ids is not None:
        tables["submission_customers"] = _submission_order(submission_ids, customers)
    oracle_path = sources.get("oracle")
    if oracle_path is not None:
        tables["oracle"] = _read_oracle(oracle_path, customers, articles, report)
    return tables


def _order_log_tables(
    log: OrderLog, scratch_dir: Path, report: IngestReport, checks: DataChecks
) -> dict[str, pl.DataFrame]:
    """The store's tables from one order log (and its item file): the same checks of prices and
    dates as the Kaggle transactions, rows named as in the log."""
    raw, tx, customers, items, warnings = read_order_log(log, scratch_dir)
    report.warnings += warnings
    _check_prices(raw, tx, checks.max_price, report)
    _check_dates(raw, tx, checks, report)
    articles = _article_table(kaggle_shaped(items))
    tx = tx.with_columns(pl.col("article_id").cast(pl.UInt32), pl.col("channel").cast(pl.UInt8)).sort(
        "t_dat", maintain_order=True
    )
    tx, articles = _map_articles(tx, articles, report)
    return {"transactions": tx, "customers": _customer_table(customer_frame(customers)), "articles": articles}


def _note_ignored(raw: RawTable, report: IngestReport) -> None:
    extra = [h for h in raw.ignored if h.strip() and not h.startswith("Unnamed")]
    if extra:
        report.warnings.append(f"{raw.path.name}: ignored unknown columns {', '.join(extra)}")


def _check_unique(raw: RawTable, df: pl.DataFrame, key: str) -> None:
    duplicated = df[key].is_duplicated()
    if duplicated.any():
        first = df[key][int(duplicated.arg_max())]
        second = df.with_row_index("row", offset=1).filter(pl.col(key) == first)["row"]
        raise InputError(f"{raw.path.name}, row {second[1]}: duplicated {key} {first} (first seen at row {second[0]})")


def _require_present(raw: RawTable, df: pl.DataFrame, names: list[str]) -> None:
    """Raise naming the first row where one of these columns is missing or blank."""
    for n in names:
        column = df[n]
        if column.null_count() or (column.dtype == pl.String and (column.str.strip_chars() == "").any()):
            raw.raise_first_bad_row(needed=tuple(names))


def _enum(expr: pl.Expr, values: pl.Series) -> pl.Expr:
    """Text -> Enum with sorted categories: codes are stable for a given set of values."""
    cats = values.drop_nulls().unique().sort()
    return expr.cast(pl.Enum(cats.to_list()))


def _read_customers(raw: RawTable, report: IngestReport) -> pl.DataFrame:
    _note_ignored(raw, report)
    df = raw.collect(raw.frame())
    _require_present(raw, df, ["customer_id"])
    _check_unique(raw, df, "customer_id")
    df = _fill_missing(df, CUSTOMERS)
    out = _customer_table(df)
    bad_age = int(df["age"].is_not_null().sum() - out["age"].is_not_null().sum())
    if bad_age:
        report.warnings.append(f"{raw.path.name}: {bad_age} ages outside 0..120 read as missing")
    return out


def _customer_table(df: pl.DataFrame) -> pl.DataFrame:
    """Typed customer table, sorted by customer_id, with its dense index."""
    age = pl.col("age").round()
    return df.sort("customer_id").select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("customer"),
        "customer_id",
        (pl.col("FN") == 1).alias("FN"),
        (pl.col("Active") == 1).alias("Active"),
        _enum(pl.col("club_member_status"), df["club_member_status"]),
        _enum(pl.col("fashion_news_frequency"), df["fashion_news_frequency"]),
        pl.when(age.is_between(0, 120)).then(age).cast(pl.UInt8).alias("age"),
        "postal_code",
        pl.lit(True).alias("known"),
    )


def _read_articles(raw: RawTable, report: IngestReport) -> pl.DataFrame:
    _note_ignored(raw, report)
    df = raw.collect(raw.frame())
    _require_present(raw, df, ["article_id"])
    if not df["article_id"].is_between(0, 2**32 - 1).all():
        bad = (
            df.with_row_index("row", offset=1).filter(~pl.col("article_id").is_between(0, 2**32 - 1)).row(0, named=True)
        )
        raise InputError(f"{raw.path.name}, row {bad['row']}: article_id {bad['article_id']} is out of range")
    _check_unique(raw, df, "article_id")
    df = _fill_missing(df, ARTICLES)
    df = df.with_columns(pl.col("product_code").fill_null(pl.col("article_id") // 1000))
    return _article_table(df.with_columns(pl.lit(True).alias("known")))


def _article_table(df: pl.DataFrame) -> pl.DataFrame:
    """Typed, sorted article table with its dense index; names become Enums, codes Int32; an
    order log's `item_id` (the shop's own id, text) follows article_id."""
    df = df.sort("article_id")
    shop = ["item_id"] if "item_id" in df.columns else []
    return df.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("article"),
        pl.col("article_id").cast(pl.UInt32),
        *(pl.col(c).cast(pl.Int32) for c in ARTICLE_CODE_COLUMNS),
        *(_enum(pl.col(c), df[c]) for c in ARTICLE_NAME_COLUMNS),
        "prod_name",
        "detail_desc",
        *shop,
        "known",
    ).select(["article", "article_id", *shop, *[c.name for c in ARTICLES.columns if c.name != "article_id"], "known"])


def _fill_missing(df: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    """Optional columns absent from the file become all-null columns of their type."""
    return df.with_columns(pl.lit(None, dtype=c.parse).alias(c.name) for c in spec.columns if c.name not in df.columns)


def _add_unknown_customers(customers: pl.DataFrame, ids: pl.Series, where: str, report: IngestReport) -> pl.DataFrame:
    """Append placeholder rows for ids missing from the customers file, keeping ids sorted."""
    distinct = ids.unique()
    unknown = distinct.filter(~distinct.is_in(customers["customer_id"].implode()))
    if unknown.len() == 0:
        return customers
    report.warnings.append(
        f"{unknown.len()} customers in the {where} are missing from the customers file; kept with empty metadata"
    )
    extra = pl.DataFrame({"customer_id": unknown}).with_columns(pl.lit(False).alias("known"))
    merged = pl.concat([customers.drop("customer"), extra], how="diagonal_relaxed").sort("customer_id")
    return merged.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("customer"), pl.exclude("customer")).select(
        customers.columns
    )


def _read_transactions(
    raw: RawTable, customers: pl.DataFrame, report: IngestReport, checks: DataChecks = DataChecks()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stream the transactions into the compact store schema; returns (transactions, customers)."""

    def compact(lf: pl.LazyFrame, customers: pl.DataFrame) -> pl.LazyFrame:
        channel = pl.col("sales_channel_id") if "sales_channel_id" in lf.collect_schema() else pl.lit(UNKNOWN_CHANNEL)
        ids = customers.select("customer_id", "customer").lazy()
        return lf.join(ids, on="customer_id", how="left", maintain_order="left").select(
            "t_dat",
            "customer",
            "article_id",
            pl.col("price").cast(pl.Float32),
            channel.alias("sales_channel_id"),  # named as in the file until checked, so messages name it
        )

    tx = raw.collect(compact(raw.frame(), customers))
    if tx["customer"].null_count():
        ids = raw.collect(raw.frame().select("customer_id"))["customer_id"]
        if ids.null_count() or (ids.str.strip_chars() == "").any():
            raw.raise_first_bad_row()
        customers = _add_unknown_customers(customers, ids, "transactions", report)
        tx = raw.collect(compact(raw.frame(), customers))
    _require_present(raw, tx, ["t_dat", "article_id", "price", "sales_channel_id"])
    _check_range(raw, tx, "article_id", 0, 2**32 - 1)
    _check_range(raw, tx, "sales_channel_id", 0, 255)
    _check_prices(raw, tx, checks.max_price, report)
    _check_dates(raw, tx, checks, report)
    if "sales_channel_id" not in raw.header:
        report.warnings.append(
            f"{raw.path.name}: no sales_channel_id column; every row gets channel {UNKNOWN_CHANNEL} (unknown)"
        )
    tx = tx.with_columns(pl.col("article_id").cast(pl.UInt32), pl.col("sales_channel_id").cast(pl.UInt8)).rename(
        {"sales_channel_id": "channel"}
    )
    if not tx["t_dat"].is_sorted():
        tx = tx.sort("t_dat", maintain_order=True)
    return tx, customers


def _check_range(raw: RawTable, tx: pl.DataFrame, column: str, low: float, high: float) -> None:
    ok = tx[column].is_between(low, high)
    if not ok.all():
        row = int((~ok).arg_max()) + 1
        raise InputError(f"{raw.path.name}, row {row}: {column} {tx[column][row - 1]} is out of range")


def _first_row(tx: pl.DataFrame, mask: pl.Series) -> int:
    return int(mask.arg_max()) + 1


def _check_prices(raw: RawTable, tx: pl.DataFrame, ceiling: float, report: IngestReport) -> None:
    """Non-finite prices are refused, negative ones too; absurdly high ones are kept with a warning."""
    price = tx["price"]
    infinite = price.is_infinite()
    if infinite.any():
        row = _first_row(tx, infinite)
        raise InputError(f"{raw.path.name}, row {row}: price {price[row - 1]} is not a finite number")
    _check_range(raw, tx, "price", 0, float("inf"))
    high = price > ceiling
    if high.any():
        row = _first_row(tx, high)
        report.warnings.append(
            f"{raw.path.name}: {int(high.sum())} prices above {ceiling:g} (first at row {row}: {price[row - 1]:g}); "
            "kept; check the units (--max-price sets this ceiling)"
        )


def _check_dates(raw: RawTable, tx: pl.DataFrame, checks: DataChecks, report: IngestReport) -> None:
    """Refuse dates after today (by the machine's clock, in its zone or UTC, whichever is later); a
    gap of more than `checks.max_gap_days` between consecutive dates (a stray row far from the rest
    would become the whole last week, or stretch the history) is refused unless allowed."""
    today = max(date.today(), datetime.now(timezone.utc).date())
    future = tx["t_dat"] > today
    if future.any():
        row = _first_row(tx, future)
        raise InputError(f"{raw.path.name}, row {row}: t_dat {tx['t_dat'][row - 1]} is after today ({today})")
    days = tx["t_dat"].unique().sort()
    gaps = (days.diff().dt.total_days() > checks.max_gap_days).fill_null(False)
    if not gaps.any():
        return
    at = int(gaps.arg_max())
    late, previous = days[at], days[at - 1]
    row, previous_row = _first_row(tx, tx["t_dat"] == late), _first_row(tx, tx["t_dat"] == previous)
    text = f"{raw.path.name}, row {row}: t_dat {late} is {(late - previous).days} days after the previous date ({previous}, row {previous_row})"
    if not checks.allow_gaps:
        raise InputError(f"{text}; --allow-gaps accepts it")
    report.warnings.append(f"{text}; accepted (--allow-gaps)")


def _map_articles(tx: pl.DataFrame, articles: pl.DataFrame, report: IngestReport) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Replace article ids by dense indexes, adding placeholder articles for unknown ids."""
    seen = tx["article_id"].unique()
    unknown = seen.filter(~seen.is_in(articles["article_id"].implode()))
    if unknown.len():
        rows = int(tx["article_id"].is_in(unknown.implode()).sum())
        report.warnings.append(
            f"{unknown.len()} articles ({rows} transaction rows) are missing from the articles file; "
            "kept with empty metadata and product_code = article_id // 1000"
        )
        extra = pl.DataFrame({"article_id": unknown.cast(pl.Int64)}).with_columns(
            product_code=pl.col("article_id") // 1000, known=pl.lit(False)
        )
        raw_cols = articles.drop("article").with_columns(
            [pl.col(c).cast(pl.String) for c in ARTICLE_NAME_COLUMNS] + [pl.col("article_id").cast(pl.Int64)]
        )
        articles = _article_table(pl.concat([raw_cols, extra], how="diagonal_relaxed"))
    article = tx["article_id"].replace_strict(articles["article_id"], articles["article"], return_dtype=pl.UInt32)
    return tx.select("t_dat", "customer", article.alias("article"), "price", "channel"), articles


def _read_submission_ids(raw: RawTable, report: IngestReport) -> pl.Series:
    """The sample submission's customer ids, each once. A blank id is refused (it names no customer);
    a repeated one is dropped with a warning: the submission lists each customer once, and a repeat
    adds nothing, so keeping the first keeps the file's order and spares the user editing it."""
    ids = raw.collect(raw.frame().select("customer_id"))
    _require_present(raw, ids, ["customer_id"])
    repeated = ~ids["customer_id"].is_first_distinct()
    if repeated.any():
        row = _first_row(ids, repeated)
        report.warnings.append(
            f"{raw.path.name}: {int(repeated.sum())} repeated customer_id rows dropped (first at row {row}: "
            f"{ids['customer_id'][row - 1]}); each customer is kept once, where first listed"
        )
    return ids["customer_id"].filter(~repeated)


def _submission_order(ids: pl.Series, customers: pl.DataFrame) -> pl.DataFrame:
    """The sample submission's customers, in its order, as dense indexes."""
    return pl.DataFrame(
        {"customer": ids.replace_strict(customers["customer_id"], customers["customer"], return_dtype=pl.UInt32)}
    )
