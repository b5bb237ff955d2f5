"""The Parquet store that `hmrec data ingest` writes and every other command reads.

Layout of a store folder:
- `transactions.parquet`: t_dat (Date), customer (u32), article (u32), price (f32), channel (u8:
  1 store, 2 online, 0 unknown); sorted by t_dat; duplicate rows kept (they are quantities).
- `customers.parquet`: customer (u32 dense index, ordered by customer_id), customer_id (the original
  64-hex id), FN, Active (bool), club_member_status, fashion_news_frequency (Enum), age (u8),
  postal_code, known (false for customers that only appeared in transactions).
- `articles.parquet`: article (u32 dense index, ordered by article_id), article_id (u32, the Kaggle
  id), item_id (text, the shop's own id; stores ingested from an order log only), every Kaggle
  article column (codes Int32, names Enum, prod_name/detail_desc text), known.
- `submission_customers.parquet` (when the input had a sample submission): its customers in order.
- `oracle.parquet` (synthetic worlds only): week, customer, article (list, best first),
  probability (list): the true top-100 of every buyer of the world's last weeks.
- `manifest.json`: schema version, sources, row counts, date range, ingest warnings, fingerprint;
  `order_log`: the column mapping, for a store ingested from an order log.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import polars as pl

from hmrec_cli.errors import InputError

MANIFEST = "manifest.json"
ORACLE_FILE = "oracle.parquet"
SCHEMA_VERSION = 1


def content_fingerprint(tables: dict[str, pl.DataFrame]) -> str:
    """sha256 over the tables' schemas and row hashes: any change of content (values, order, types)
    gives a new fingerprint, so cache keys built on it never serve results computed from other
    data. It hashes values, not file bytes, because Parquet bytes depend on chunk layout."""
    digest = hashlib.sha256(f"hmrec-store-v{SCHEMA_VERSION}".encode())
    for name in sorted(tables):
        frame = tables[name]
        digest.update(f"{name}:{frame.height}:{frame.schema}".encode())
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _damaged(path: Path, error: Exception) -> InputError:
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return InputError(f"{path}: damaged store table ({first}); run `{reingest(path.parent)}`")


def reingest(store: Path) -> str:
    """A `hmrec data ingest` that rebuilds or makes this store, as a command that works: from the
    raw folder its manifest names, with --force; for a folder of Kaggle files (given as --data by
    mistake), into a new folder beside it; else with RAW_FOLDER for the user to fill in."""
    from hmrec_cli.console import reproduce

    manifest = read_manifest(store / MANIFEST) or {}
    if (log := _order_log_words(manifest)) is not None:
        return reproduce("data", "ingest", *log, "--force", data=store)
    try:
        raw = Path(manifest["sources"]["transactions"]["path"]).parent
    except (KeyError, TypeError):
        raw = None
    if raw is not None and raw.is_dir():
        return reproduce("data", "ingest", str(raw), "--force", data=store)
    if any(store.glob("transactions_train.*")):
        free = next((p for p in (store.parent / "hm", store.with_name(f"{store.name}-store")) if not p.exists()), None)
        if free is not None:
            return reproduce("data", "ingest", str(store), data=free)
    exists = store.is_dir() and any(store.iterdir())
    return reproduce("data", "ingest", "RAW_FOLDER", *(["--force"] if exists else []), data=store)


def _order_log_words(manifest: dict) -> list[str] | None:
    """The order log and mapping options a store was ingested with, when its files are still there."""
    mapping, sources = manifest.get("order_log"), manifest.get("sources")
    try:
        orders = Path(sources["orders"]["path"])
        items = Path(sources["items"]["path"]) if "items" in sources else None
    except (KeyError, TypeError):
        return None
    if not (isinstance(mapping, dict) and orders.is_file() and (items is None or items.is_file())):
        return None
    options = {**mapping, **({"items": str(items)} if items else {})}
    return [
        str(orders),
        *(w for k, v in options.items() if k != "orders" for w in (f"--{k.replace('_', '-')}", str(v))),
    ]


def read_manifest(path: Path) -> dict | None:
    """A store manifest's content, or None when it is empty, unreadable or not a JSON object."""
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return content if isinstance(content, dict) else None


def _is_date(value: object) -> bool:
    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def manifest_problem(manifest: dict) -> str | None:
    """What is wrong with the values of a manifest's fields that commands read, or None. Checked once
    on open, so a hand-edited manifest (`"last_date": "garbage"`, `null`) is one line, not a
    traceback in whichever command reads the field first."""
    fingerprint = manifest.get("fingerprint")
    if not (isinstance(fingerprint, str) and re.fullmatch(r"[0-9a-f]{16}", fingerprint)):
        return f"fingerprint {fingerprint!r} is not 16 hex digits"
    for key in ("first_date", "last_date"):
        if not _is_date(manifest.get(key)):
            return f"{key} {manifest.get(key)!r} is not a date (YYYY-MM-DD)"
    if manifest["first_date"] > manifest["last_date"]:
        return f"first_date {manifest['first_date']} is after last_date {manifest['last_date']}"
    warnings = manifest.get("warnings", [])
    if not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
        return "warnings is not a list of texts"
    rows = manifest.get("rows", {})
    if not (isinstance(rows, dict) and all(type(n) is int and n >= 0 for n in rows.values())):
        return "rows is not a table of row counts"
    return None


@dataclass(frozen=True)
class Store:
    """An ingested data set. Tables are read on first use and kept."""

    path: Path
    manifest: dict

    @classmethod
    def open(cls, path: Path) -> Store:
        manifest_path = path / MANIFEST
        if path.is_file():
            raise InputError(f"--data {path}: is a file; give the store folder written by `hmrec data ingest`")
        if not manifest_path.is_file():
            raise InputError(f"{path}: no hmrec store here (run `{reingest(path)}` first)")
        manifest = read_manifest(manifest_path)
        if manifest is None or not {"fingerprint", "first_date", "last_date"} <= manifest.keys():
            raise InputError(f"{manifest_path}: not a readable store manifest; run `{reingest(path)}`")
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise InputError(
                f"{path}: store schema {manifest.get('schema_version')} is not {SCHEMA_VERSION}; run `{reingest(path)}`"
            )
        if (problem := manifest_problem(manifest)) is not None:
            raise InputError(f"{manifest_path}: {problem}; run `hmrec data ingest --force` again")
        return cls(path, manifest)

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def first_date(self) -> date:
        return date.fromisoformat(self.manifest["first_date"])

    @property
    def last_date(self) -> date:
        return date.fromisoformat(self.manifest["last_date"])

    def table(self, name: str, columns: list[str] | None = None) -> pl.DataFrame:
        """A table of the store (or some of its columns); a missing or damaged file is one line naming it."""
        path = self.path / name
        try:
            return pl.read_parquet(path, columns=columns)
        except (OSError, pl.exceptions.PolarsError) as error:
            raise _damaged(path, error) from None

    @property
    def order_log(self) -> dict | None:
        """The column mapping of the order log the store was ingested from; None for Kaggle files."""
        mapping = self.manifest.get("order_log")
        return mapping if isinstance(mapping, dict) else None

    @property
    def has_products(self) -> bool:
        """Whether articles have a product attribute (H&M's product_code, an order log's --product):
        without one every article is its own product and `same-product` has nothing to offer."""
        return self.order_log is None or self.order_log.get("product") is not None

    def article_labels(self) -> pl.DataFrame:
        """article -> `label`, the id outputs print: the shop's own item id for an order log, else
        the Kaggle article id zero-padded to 10 digits as the competition writes it."""
        if self.order_log is not None:
            return self.articles.select("article", label="item_id")
        return self.articles.select("article", label=pl.col("article_id").cast(pl.String).str.zfill(10))

    @cached_property
    def transactions(self) -> pl.DataFrame:
        return self.table("transactions.parquet")

    @cached_property
    def customers(self) -> pl.DataFrame:
        return self.table("customers.parquet")

    @cached_property
    def articles(self) -> pl.DataFrame:
        return self.table("articles.parquet")

    @cached_property
    def submission_customers(self) -> pl.Series:
        """Customers a submission must list, in order: the sample submission's, else all of them."""
        path = self.path / "submission_customers.parquet"
        if path.is_file():
            return self.table(path.name)["customer"]
        return self.customers["customer"]

    def oracle(self, week_start: date) -> pl.DataFrame | None:
        """The synthetic oracle's ranking for the week as predictions (customer, article, rank) and as
        a candidate set (score falls with rank), or None when the store has none for that week."""
        path = self.path / ORACLE_FILE
        if not path.is_file():
            return None
        try:
            lists = pl.scan_parquet(path).filter(pl.col("week") == week_start).select("customer", "article").collect()
        except (OSError, pl.exceptions.PolarsError) as error:
            raise _damaged(path, error) from None
        if lists.height == 0:
            return None
        return (
            lists.with_columns(rank=pl.int_ranges(pl.col("article").list.len(), dtype=pl.UInt32))
            .explode("article", "rank")
            .select("customer", "article", "rank", score=(1000 - pl.col("rank")).cast(pl.Float32))
        )


def week_table(store: Store) -> list[dict]:
    """Every week of the store counted back from the last date (0 = `last`), newest first: first and
    last day, days with data, rows, buyers, articles sold, and whether the oracle holds it. A week
    without purchases (ingest accepts gaps) is listed with 0 rows."""
    from datetime import timedelta

    from hmrec_cli.data.splits import DAYS, weeks_back

    per_week = (
        store.transactions.lazy()
        .with_columns(weeks_back(store.last_date))
        .group_by("week")
        .agg(
            pl.col("t_dat").min(),
            rows=pl.len(),
            buyers=pl.col("customer").n_unique(),
            articles=pl.col("article").n_unique(),
        )
        .collect()
    )
    every = pl.DataFrame({"week": pl.int_range(0, per_week["week"].max() + 1, eager=True).cast(per_week["week"].dtype)})
    per_week = (
        every.join(per_week, on="week", how="left")
        .with_columns(pl.col("rows", "buyers", "articles").fill_null(0))
        .sort("week")
    )
    path = store.path / ORACLE_FILE
    oracle_weeks = set(store.table(ORACLE_FILE, columns=["week"])["week"].to_list()) if path.is_file() else set()
    last_start = store.last_date - timedelta(days=DAYS - 1)
    out = []
    for week, _, rows, buyers, articles in per_week.iter_rows():
        start = last_start - timedelta(days=DAYS * week)
        out.append(
            {
                "week": "last" if week == 0 else str(week),
                "start": start.isoformat(),
                "end": (start + timedelta(days=DAYS - 1)).isoformat(),
                "days": (start + timedelta(days=DAYS) - max(store.first_date, start)).days,
                "rows": rows,
                "buyers": buyers,
                "articles": articles,
                "oracle": start in oracle_weeks,
            }
        )
    return out
