"""Stacking parts that may be none at all: a week without purchases (ingest accepts gaps of up to
28 days: holidays, a closed shop) has no buyers, so a loop over its buyers, or over weeks that
keep only their buyers' rows, yields no part, and `pl.concat([])` raises."""

from __future__ import annotations

import polars as pl


def stack(parts: list[pl.DataFrame], schema: pl.Schema | dict) -> pl.DataFrame:
    """The parts one under the other; no parts: an empty frame with `schema`."""
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)
