"""The Kaggle H&M tables as they lie on disk: names, columns, types, and how to read them typed.

This module is the single description of the competition's file format. Ingest reads through it, the
fixture writer writes what it describes, and a bad value is reported here with its file and row.

Readers accept `.csv`, `.csv.gz` and `.parquet`. CSV is parsed with typed columns (fast path); when
anything fails, a second, string-typed pass finds the first bad row so the error can name it.
"""

from __future__ import annotations

import csv
import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hmrec_cli.errors import InputError

SUFFIXES = (".csv", ".csv.gz", ".parquet")

# Channel code written for every row when a transactions file has no sales_channel_id column.
UNKNOWN_CHANNEL = 0

# What may follow a date's YYYY-MM-DD: nothing, or a time of day (`2020-05-06 13:45:00`, ISO
# `2020-05-06T13:45:00Z`, a Parquet datetime's text) whose day is the date kept.
TIME_OF_DAY = r"^(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z| ?[+-]\d{2}:?\d{2})?)?$"


@dataclass(frozen=True)
class Column:
    """One column of a Kaggle table: the type it is parsed as and whether a file must have it."""

    name: str
    parse: pl.DataType  # type the raw text is parsed as (CSV) or cast to (Parquet)
    required: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A Kaggle table: the file-name stem users give it and its columns."""

    name: str
    stems: tuple[str, ...]
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _cols(required: tuple[str, ...], **parse: pl.DataType) -> tuple[Column, ...]:
    return tuple(Column(n, t, n in required) for n, t in parse.items())


S, I, F = pl.String(), pl.Int64(), pl.Float64()  # noqa: E741  (the parse types, one letter each)

TRANSACTIONS = TableSpec(
    "transactions",
    ("transactions_train", "transactions"),
    _cols(
        ("t_dat", "customer_id", "article_id", "price"),
        t_dat=pl.Date(),
        customer_id=S,
        article_id=I,
        price=F,
        sales_channel_id=I,
    ),
)

CUSTOMERS = TableSpec(
    "customers",
    ("customers",),
    _cols(
        ("customer_id",),
        customer_id=S,
        FN=F,
        Active=F,
        club_member_status=S,
        fashion_news_frequency=S,
        age=F,
        postal_code=S,
    ),
)

ARTICLES = TableSpec(
    "articles",
    ("articles",),
    _cols(
        ("article_id",),
        article_id=I,
        product_code=I,
        prod_name=S,
        product_type_no=I,
        product_type_name=S,
        product_group_name=S,
        graphical_appearance_no=I,
        graphical_appearance_name=S,
        colour_group_code=I,
        colour_group_name=S,
        perceived_colour_value_id=I,
        perceived_colour_value_name=S,
        perceived_colour_master_id=I,
        perceived_colour_master_name=S,
        department_no=I,
        department_name=S,
        index_code=S,
        index_name=S,
        index_group_no=I,
        index_group_name=S,
        section_no=I,
        section_name=S,
        garment_group_no=I,
        garment_group_name=S,
        detail_desc=S,
    ),
)

SAMPLE_SUBMISSION = TableSpec(
    "sample_submission", ("sample_submission",), _cols(("customer_id",), customer_id=S, prediction=S)
)


def find_table(folder: Path, spec: TableSpec) -> Path | None:
    """The one file in `folder` holding `spec`, matched by stem (`transactions_train*.csv` etc.).

    Several candidates are ambiguous and an error; none returns None (the caller decides).
    """
    found: list[Path] = []
    for stem in spec.stems:
        for suffix in SUFFIXES:
            found += sorted(p for p in folder.glob(f"{stem}*{suffix}") if p.is_file())
        if found:
            break
    found = list(dict.fromkeys(found))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(
            f"{folder}: several {spec.name} files ({names}); name one with --{spec.name.replace('_', '-')}"
        )
    return found[0] if found else None


class RawTable:
    """A table file opened for reading; `frame()` gives its spec's columns typed, lazily."""

    def __init__(self, path: Path, spec: TableSpec, scratch: Path):
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: file is empty")
        self.path, self.spec = path, spec
        self.source = _decompressed(path, scratch)
        self.is_parquet = path.name.endswith(".parquet")
        self.header = self._header()
        missing = [c.name for c in spec.columns if c.required and c.name not in self.header]
        if missing:
            raise InputError(
                f"{path.name}: missing required column {missing[0]!r} (found: {', '.join(self.header) or 'none'})"
            )
        self.present = tuple(c for c in spec.columns if c.name in self.header)
        self.ignored = [h for h in self.header if h not in {c.name for c in spec.columns}]

    def _header(self) -> list[str]:
        try:
            if self.is_parquet:
                return list(pl.read_parquet_schema(self.source))
            header = list(pl.read_csv(self.source, n_rows=0, infer_schema=False).columns)
            with open(self.source, encoding="utf-8-sig", errors="replace", newline="") as fh:
                written = next(csv.reader([fh.readline(1 << 20)]), [])
        except (pl.exceptions.PolarsError, OSError) as err:
            raise InputError(f"{self.path.name}: cannot read the header ({first_line(err)})") from None
        repeated = [name for i, name in enumerate(written) if name in written[:i]]
        if repeated:  # polars would rename the second one `NAME_duplicated_0` and read the first
            raise InputError(f"{self.path.name}: column {repeated[0]!r} appears twice in the header")
        return header

    def frame(self) -> pl.LazyFrame:
        """The spec's columns present in the file, parsed to their `Column.parse` types."""
        names = [c.name for c in self.present]
        if self.is_parquet:
            lf = pl.scan_parquet(self.source).select(names)
            return lf.select(_cast(pl.col(c.name), c.parse, strict=True) for c in self.present)
        overrides = {h: pl.String() for h in self.header}
        overrides.update({c.name: c.parse for c in self.present if c.parse != pl.Date()})  # dates: as in Parquet
        lf = pl.scan_csv(self.source, schema_overrides=overrides, infer_schema=False).select(names)
        return lf.with_columns(
            _cast(pl.col(c.name), c.parse, strict=True) for c in self.present if c.parse == pl.Date()
        )

    def collect(self, lf: pl.LazyFrame) -> pl.DataFrame:
        """Collect a query over `frame()`, turning a parse failure into an error naming the row."""
        try:
            df = lf.collect(engine="streaming")
        except pl.exceptions.PolarsError as err:
            self.raise_first_bad_row(fallback=first_line(err))
        if df.height == 0 and self.spec is not SAMPLE_SUBMISSION:
            raise InputError(f"{self.path.name}: no data rows")
        return df

    def raise_first_bad_row(self, fallback: str = "unreadable value", needed: tuple[str, ...] = ()) -> None:
        """Find the first row that cannot be read (bytes that are not UTF-8, more fields than the
        header) or whose value cannot be parsed (or is missing where required, or in a `needed`
        optional column), and raise."""
        if not self.is_parquet:
            self._raise_unreadable_row()
        if self.is_parquet:
            lf = pl.scan_parquet(self.source).select(pl.col(c.name).cast(pl.String) for c in self.present)
        else:
            lf = pl.scan_csv(self.source, infer_schema=False).select(c.name for c in self.present)
        lf = lf.with_row_index("row", offset=1)
        checks = []
        for c in self.present:
            raw = pl.col(c.name)
            parsed = _cast(raw, c.parse, strict=False)
            bad_value = raw.is_not_null() & (raw.str.strip_chars() != "") & parsed.is_null()
            empty = raw.is_null() | (raw.str.strip_chars() == "")
            checks.append(
                lf.filter(bad_value | (empty if c.required or c.name in needed else pl.lit(False)))
                .select("row", pl.lit(c.name).alias("column"), raw.alias("value"))
                .head(1)
            )
        bad = pl.concat(checks).sort("row").head(1).collect()
        if bad.height == 0:
            raise InputError(f"{self.path.name}: {fallback}")
        row, column, value = bad.row(0)
        parse = self.spec.column(column).parse
        problem = (
            "missing value" if value is None or not value.strip() else f"{value!r} is not a valid {_type_word(parse)}"
        )
        raise InputError(f"{self.path.name}, row {row}: column {column}: {problem}")

    def _raise_unreadable_row(self) -> None:
        line = first_invalid_utf8_line(self.source)
        if line is not None:
            raise InputError(
                f"{self.path.name}, row {line - 1}: bytes that are not UTF-8 text (save the file as UTF-8)"
            )
        lines = pl.scan_csv(
            self.source, has_header=False, separator="\x1f", quote_char=None, new_columns=["line"], infer_schema=False
        )
        fields = pl.col("line").str.replace_all(r'"(?:[^"]|"")*"', "").str.count_matches(",") + 1
        ragged = (
            lines.with_row_index("row")
            .filter(fields > len(self.header))
            .select("row", fields.alias("fields"))
            .head(1)
            .collect()
        )
        if ragged.height:
            row, n = ragged.row(0)
            raise InputError(f"{self.path.name}, row {row}: {n} fields, the header has {len(self.header)}")


def first_invalid_utf8_line(path: Path, block_size: int = 16 << 20) -> int | None:
    """The 1-based line of the first byte sequence that is not UTF-8, or None; reads in blocks."""
    carry, newlines = b"", 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(block_size)
            data = carry + block
            if not data:
                return None
            try:
                data.decode("utf-8")
                cut, carry = len(data), b""
            except UnicodeDecodeError as error:
                if not (block and error.reason == "unexpected end of data"):
                    return newlines + data[: error.start].count(b"\n") + 1
                cut, carry = error.start, data[error.start :]  # a character split by the block end
            newlines += data[:cut].count(b"\n")
            if not block:
                return None


def _cast(expr: pl.Expr, to: pl.DataType, strict: bool) -> pl.Expr:
    """Cast a column of any input type (text or typed) to `to`; dates are parsed as YYYY-MM-DD,
    with or without a time of day after them (CSV text and Parquet datetimes alike); anything
    else after the date makes the value null, which the required-column check reports by row."""
    if to == pl.Date():
        text = expr.cast(pl.String).str.strip_chars()
        day = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=strict)
        return pl.when(text.str.slice(10).str.contains(TIME_OF_DAY)).then(day).alias(expr.meta.output_name())
    if to.is_numeric():
        return expr.cast(pl.String).str.strip_chars().cast(to, strict=strict)
    return expr.cast(to, strict=strict)


def _type_word(dtype: pl.DataType) -> str:
    if dtype == pl.Date():
        return "date (YYYY-MM-DD)"
    if dtype.is_integer():
        return "integer"
    return "number" if dtype.is_numeric() else "text"


def _decompressed(path: Path, scratch: Path) -> Path:
    """A gzip'd CSV is unpacked to `scratch` by streaming, so memory stays bounded at any size."""
    if not path.name.endswith(".gz"):
        return path
    out = scratch / path.name.removesuffix(".gz")
    try:
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, length=16 << 20)
    except (OSError, EOFError) as err:
        raise InputError(f"{path.name}: not a readable gzip file ({err})") from None
    if out.stat().st_size == 0:
        raise InputError(f"{path.name}: file is empty")
    return out


def first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
