"""`hmrec data ingest ORDERS --customer COL --item COL --date COL`: a shop's own order log as store tables.

The shop's ids are kept as text, exactly as written (spaces, non-ASCII, leading zeros): customers
in customers.parquet's `customer_id`, items in articles.parquet's `item_id`, and every output that
names an article prints `item_id` (`Store.article_labels`). `article_id` stays a u32 as the
store's readers expect: the item's own number when every item id is a plain non-negative integer
that fits (no leading zeros, so the text is the number's), else the item's place in the sorted ids.

An optional item file (`--items FILE --item-key COL`) gives articles a product (`--product`: what
`same-product` and the ranking features group variants by, as H&M's product_code), a group
(`--group`: product_group_name, a field of DIN's and lgbm's item features) and a name (`--name`:
prod_name). Without `--product` the store records that it has no product attribute and
`same-product` is not offered (`Store.has_products`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hmrec_cli.data.kaggle_tables import ARTICLES, CUSTOMERS, TIME_OF_DAY, Column, RawTable, TableSpec
from hmrec_cli.errors import InputError

DEFAULT_PRICE = 0.0  # every purchase's price when the log has none (`--price` not given): price features are then flat
PLAIN_U32 = r"^(?:0|[1-9][0-9]{0,9})$"  # an id whose text is exactly a number's; 10 digits may still pass 2**32 - 1


@dataclass(frozen=True)
class OrderLog:
    """Which columns of the order log (and of the optional item file) hold what."""

    path: Path
    customer: str
    item: str
    date: str
    price: str | None = None
    channel: str | None = None
    date_format: str | None = None
    items: Path | None = None
    item_key: str | None = None
    product: str | None = None
    group: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        attributes = {"--product": self.product, "--group": self.group, "--name": self.name}
        if self.items is None and (self.item_key or any(attributes.values())):
            given = next(flag for flag, v in {"--item-key": self.item_key, **attributes}.items() if v)
            raise InputError(f"{given}: goes with --items FILE (the file of item attributes)")
        if self.items is not None and not self.item_key:
            raise InputError("--items: name the column holding the item id with --item-key COL")
        if self.items is not None and not any(attributes.values()):
            raise InputError("--items: name at least one attribute column (--product, --group or --name)")

    def mapping(self) -> dict:
        """The column mapping, as the manifest records it and `hmrec data info` shows it."""
        out = {k: getattr(self, k) for k in ("customer", "item", "date", "price", "channel", "date_format")}
        out["orders"] = str(self.path)
        if self.items is not None:
            out.update(
                items=str(self.items), item_key=self.item_key, product=self.product, group=self.group, name=self.name
            )
        return {k: v for k, v in out.items() if v is not None}

    def sources(self) -> dict[str, Path]:
        return {"orders": self.path, **({"items": self.items} if self.items is not None else {})}


def _text_table(path: Path, columns: list[str], scratch: Path) -> tuple[RawTable, pl.DataFrame]:
    """The named columns of a CSV or Parquet file, each as text (`RawTable` refuses an empty file, a
    repeated header name and a missing column, naming the columns found)."""
    spec = TableSpec(path.name, (), tuple(Column(c, pl.String(), required=True) for c in dict.fromkeys(columns)))
    raw = RawTable(path, spec, scratch)
    return raw, raw.collect(raw.frame())


def _bad_row(raw: RawTable, df: pl.DataFrame, bad: pl.Series, column: str, problem: str) -> InputError:
    row = int(bad.arg_max())
    return InputError(f"{raw.path.name}, row {row + 1}: column {column}: {df[column][row]!r} {problem}")


def _days(raw: RawTable, df: pl.DataFrame, column: str, fmt: str | None) -> pl.Series:
    """The date column as days: ISO YYYY-MM-DD (a time of day after it allowed) or `fmt`."""
    text = df[column].str.strip_chars()
    if fmt:
        parsed = pl.select(text.str.strptime(pl.Datetime, fmt, strict=False).dt.date()).to_series()
    else:
        day = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        parsed = pl.select(pl.when(text.str.slice(10).str.contains(TIME_OF_DAY)).then(day)).to_series()
    if parsed.null_count():
        expected = f"--date-format {fmt}" if fmt else "YYYY-MM-DD; --date-format gives another, e.g. %d.%m.%Y"
        raise _bad_row(raw, df, parsed.is_null(), column, f"is not a date ({expected})")
    return parsed


def _codes(values: pl.Series) -> pl.Series:
    """Text -> dense codes 1..n in sorted order (null stays null)."""
    return values.rank("dense").cast(pl.Int32)


def read_order_log(
    log: OrderLog, scratch: Path
) -> tuple[RawTable, pl.DataFrame, pl.DataFrame, pl.DataFrame, list[str]]:
    """(raw, transactions with t_dat/customer/article_id/price/channel in file order, customers,
    articles without their index, warnings). Transactions name customers by index already."""
    warnings: list[str] = []
    names = [log.customer, log.item, log.date, *(c for c in (log.price, log.channel) if c)]
    raw, df = _text_table(log.path, names, scratch)
    for column in (log.customer, log.item, log.date):
        blank = df[column].is_null() | (df[column].str.strip_chars() == "")
        if blank.any():
            raise _bad_row(raw, df, blank, column, "is blank (every order needs a customer, an item and a date)")
    t_dat = _days(raw, df, log.date, log.date_format)
    if log.price:
        price = df[log.price].str.strip_chars().cast(pl.Float64, strict=False)
        if price.null_count():
            raise _bad_row(raw, df, price.is_null(), log.price, "is not a price (a number)")
    else:
        price = pl.repeat(DEFAULT_PRICE, df.height, dtype=pl.Float64, eager=True)
    if log.channel:
        text = df[log.channel].fill_null("").str.strip_chars()
        number = text.cast(pl.Int64, strict=False)
        if number.is_between(0, 255).all():
            channel = number
        else:  # names (web, store, ...): codes 1..n in sorted order, 0 for a blank
            channel = pl.select(pl.when(text != "").then(_codes(text))).to_series().fill_null(0)
            if channel.max() > 255:
                raise InputError(
                    f"{raw.path.name}: column {log.channel} holds {channel.max()} channels; at most 255 are kept"
                )
            named = df.select(pl.col(log.channel).str.strip_chars()).unique().drop_nulls().sort(log.channel)
            warnings.append(
                f"{raw.path.name}: channels coded 1.. in sorted order: {', '.join(named[log.channel].to_list()[:8])}"
            )
    else:
        channel = pl.repeat(0, df.height, dtype=pl.Int64, eager=True)
    customers = df.select(customer_id=pl.col(log.customer)).unique().sort("customer_id").with_row_index("customer")
    items = df.select(item_id=pl.col(log.item)).unique().sort("item_id")
    plain = items["item_id"].str.contains(PLAIN_U32).all() and items["item_id"].cast(pl.UInt64).max() < 2**32
    items = items.with_columns(
        article_id=pl.col("item_id").cast(pl.UInt64) if plain else pl.int_range(pl.len(), dtype=pl.UInt64)
    )
    tx = pl.DataFrame(
        {"customer_id": df[log.customer], "item_id": df[log.item], "t_dat": t_dat, "price": price, "channel": channel}
    )
    tx = (
        tx.join(customers, on="customer_id", maintain_order="left")
        .join(items, on="item_id", maintain_order="left")
        .select(
            "t_dat",
            pl.col("customer").cast(pl.UInt32),
            pl.col("article_id").cast(pl.Int64),
            pl.col("price").cast(pl.Float32),
            "channel",
        )
    )
    articles = _item_attributes(log, items, scratch, warnings)
    return raw, tx, customers.with_columns(pl.col("customer").cast(pl.UInt32)), articles, warnings


def _item_attributes(log: OrderLog, items: pl.DataFrame, scratch: Path, warnings: list[str]) -> pl.DataFrame:
    """Articles as Kaggle-shaped rows (`item_id`, `article_id`, product_code, product_group_name,
    prod_name where the item file gives them, null elsewhere), known = listed in the item file."""
    if log.items is None:
        return items.with_columns(known=pl.lit(False))
    wanted = {"product": log.product, "group": log.group, "name": log.name}
    raw, df = _text_table(log.items, [log.item_key, *(c for c in wanted.values() if c)], scratch)
    repeated = df[log.item_key].is_duplicated()
    if repeated.any():
        raise _bad_row(raw, df, repeated, log.item_key, "is listed twice")
    attrs = df.select(
        pl.col(log.item_key).alias("item_id"),
        *([_codes(df[log.product]).alias("product_code")] if log.product else []),
        *([pl.col(log.group).alias("product_group_name")] if log.group else []),
        *([pl.col(log.name).alias("prod_name")] if log.name else []),
        known=pl.lit(True),
    )
    missing = items.join(attrs, on="item_id", how="anti").height
    if missing:
        warnings.append(
            f"{log.items.name}: {missing} of the {items.height} ordered items are not listed; their attributes are empty"
        )
    unused = attrs.join(items, on="item_id", how="anti").height
    if unused:
        warnings.append(f"{log.items.name}: {unused} listed items were never ordered; left out")
    return items.join(attrs, on="item_id", how="left", maintain_order="left").with_columns(
        pl.col("known").fill_null(False)
    )


def kaggle_shaped(articles: pl.DataFrame) -> pl.DataFrame:
    """Fill the Kaggle article columns the log did not give with nulls of their types."""
    return articles.with_columns(
        pl.lit(None, dtype=c.parse).alias(c.name) for c in ARTICLES.columns if c.name not in articles.columns
    )


def customer_frame(customers: pl.DataFrame) -> pl.DataFrame:
    """Customers with every Kaggle column, null: the log says nothing about them but their id."""
    return customers.with_columns(
        pl.lit(None, dtype=c.parse).alias(c.name) for c in CUSTOMERS.columns if c.name not in customers.columns
    )
