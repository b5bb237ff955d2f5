"""`hmrec data sample`: a store of a random share of the customers, the way people iterate on the
competition's 31.8M rows.

Every row of a sampled customer is kept, and every article (a smaller catalogue would change what
can be recommended); the synthetic oracle keeps its lists for the sampled customers. Customers get
new dense indexes (in customer_id order, as ingest gives them) so that arrays sized by the customer
table stay small. The store keeps its source's date range, so `--week last` names the same week in
both. Its own fingerprint keys its caches apart from the source's.

What sampling does: each customer's behaviour (repurchase, recency, basket) is untouched, but every
count over customers shrinks with the share, so an article's sales in a week are a thin, noisy
count; `popularity_effect` measures how much of the source's bestseller list survives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from hmrec_cli.atomic import atomic_dir
from hmrec_cli.data.splits import weeks_back
from hmrec_cli.data.store import MANIFEST, ORACLE_FILE, Store, content_fingerprint
from hmrec_cli.errors import InputError

TOP = (12, 100)


@dataclass
class SampleReport:
    store: Path
    customers: tuple[int, int]  # (kept, source)
    rows: dict[str, int] = field(default_factory=dict)
    popularity: list[dict] = field(default_factory=list)  # one row per measure: source, sample


def sample_store(source: Path, dest: Path, share: float, seed: int) -> SampleReport:
    """Write the customer-sampled store of `source` to `dest` (whole, or not at all)."""
    if not 0 < share <= 1:
        raise InputError(f"--customers {share}: expected a share of customers above 0 and at most 1")
    store = Store.open(source)
    if dest.resolve() == source.resolve():
        raise InputError(f"--out {dest}: is the source store; choose another folder")
    if dest.exists() and not dest.is_dir():
        raise InputError(f"--out {dest}: is a file; give a folder for the sampled store")
    if dest.exists() and not (dest / MANIFEST).is_file() and any(dest.iterdir()):
        raise InputError(f"--out {dest}: folder exists and is not an hmrec store; choose another")

    n = store.customers.height
    keep = np.sort(np.random.default_rng(seed).choice(n, size=max(1, round(share * n)), replace=False))
    new_index = pl.DataFrame(
        {"customer": store.customers["customer"].gather(keep), "new": np.arange(keep.size, dtype=np.uint32)}
    )

    def remap(frame: pl.DataFrame) -> pl.DataFrame:
        """Keep the sampled customers' rows, in their order, with the new dense index."""
        return (
            frame.join(new_index, on="customer", how="inner", maintain_order="left")
            .with_columns(customer=pl.col("new"))
            .drop("new")
        )

    tables = {
        "transactions": remap(store.transactions),
        "customers": remap(store.customers),
        "articles": store.articles,
    }
    if (store.path / "submission_customers.parquet").is_file():
        tables["submission_customers"] = remap(store.table("submission_customers.parquet"))
    if (store.path / ORACLE_FILE).is_file():
        tables["oracle"] = remap(store.table(ORACLE_FILE))

    with atomic_dir(dest) as out:
        for name, frame in tables.items():
            frame.write_parquet(out / f"{name}.parquet", statistics=True)
        rows = {name: frame.height for name, frame in tables.items()}
        manifest = {
            **store.manifest,
            "sources": {
                "sampled_from": {
                    "store": str(source),
                    "fingerprint": store.fingerprint,
                    "customers": share,
                    "seed": seed,
                }
            },
            "rows": rows,
            "fingerprint": content_fingerprint(tables),
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    Store.open(dest)
    report = SampleReport(dest, (int(keep.size), n), rows)
    report.popularity = popularity_effect(store.transactions, tables["transactions"], store.last_date)
    return report


def popularity_effect(full: pl.DataFrame, sample: pl.DataFrame, last_date) -> list[dict]:
    """Counts that popularity methods read, in the source and in the sample, for the last week."""

    def week(tx: pl.DataFrame) -> pl.DataFrame:
        return tx.filter(weeks_back(last_date) == 0)

    def ranked(tx: pl.DataFrame) -> pl.Series:
        return tx.group_by("article").len().sort(["len", "article"], descending=[True, False])["article"]

    def per_article(tx: pl.DataFrame) -> pl.Series:
        return tx.group_by("article").len()["len"]

    full_week, sample_week = week(full), week(sample)
    full_top, sample_top = ranked(full_week), ranked(sample_week)
    out = [
        {"measure": "rows", "source": full.height, "sample": sample.height},
        {"measure": "rows last week", "source": full_week.height, "sample": sample_week.height},
        {"measure": "articles sold last week", "source": full_top.len(), "sample": sample_top.len()},
        {
            "measure": "rows per article sold, median",
            "source": _median(per_article(full)),
            "sample": _median(per_article(sample)),
        },
        {
            "measure": "last week's top seller, rows",
            "source": _first(per_article(full_week).max()),
            "sample": _first(per_article(sample_week).max()),
        },
    ]
    for k in TOP:
        shared = len(set(full_top.head(k).to_list()) & set(sample_top.head(k).to_list()))
        out.append({"measure": f"last week's top {k} also the sample's top {k}", "source": k, "sample": shared})
    return out


def _first(value) -> int:
    return int(value) if value is not None else 0


def _median(counts: pl.Series) -> int:
    return int(counts.quantile(0.5, "lower") or 0)
