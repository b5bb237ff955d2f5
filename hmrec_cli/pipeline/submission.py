"""Building and validating a Kaggle submission for week `next`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hmrec_cli.atomic import atomic_file, refuse_inside, write_failure
from hmrec_cli.cache import Cache, Entry
from hmrec_cli.data import provenance
from hmrec_cli.data.splits import history, resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import K
from hmrec_cli.pipeline import settings, shards
from hmrec_cli.pipeline.ranking import RankRequest, rank
from hmrec_cli.pipeline.recall import CHUNK, Request, ordered, run, select_customers
from hmrec_cli.pipeline.settings import Auto, DropBought, PluginParams, Sources, TrainWeeks
from hmrec_cli.pipeline.shards import Shard
from hmrec_cli.plugin_api import recent_popularity
from hmrec_cli.toolkit.data_parallel import leads


@dataclass(frozen=True)
class RankWith:
    """Rank the candidates with a ranker instead of concatenating them in order."""

    ranker: str
    train_weeks: TrainWeeks = 4
    k: int = 100


@dataclass(frozen=True)
class Written:
    """What `build_submission` wrote: customers, articles in each list (12 unless the catalogue is
    smaller), and the ranking it used (None without a ranker), whose manifest says whether a learned
    ranker kept merge's order."""

    rows: int
    per_customer: int
    ranking: Entry | None


def checked_methods(methods: Sources | str, rank_with: RankWith | None) -> Sources:
    """`--candidates` typed; auto only with a ranker (it chooses the sources a ranker ranks)."""
    methods = methods if isinstance(methods, Auto) else settings.sources(methods)
    if isinstance(methods, Auto) and rank_with is None:
        raise InputError("--candidates auto chooses the sources a ranker ranks: give --ranker, or name the methods")
    return methods


def build_submission(
    data: Path,
    cache_dir: Path,
    methods: Sources,
    plugins: PluginParams,
    seed: int,
    out: Path,
    on_progress,
    rank_with: RankWith | None = None,
    command: dict | None = None,
    device: str = "auto",
    resume: bool = False,
    drop_bought: DropBought = DropBought.AUTO,
    customers: Path | None = None,
    shard: Shard | None = None,
) -> Written | None:
    """Fit on all data for week next (None in a data-parallel rank other than 0, which only trains); per customer either the ranker's top 12 or the methods' lists
    in the order given (each by its own score); top up with `fill_order`, validate, write
    atomically, never inside the store or the cache. `plugins`: the ranker's and the methods' parameters
    (`plugin_params.resolve`). `drop_bought` (`hmrec_cli.pipeline.bought`) applies to the
    ranker's union or to the methods' lists. `customers`: a file of customer ids (read as `--customers`
    everywhere): only those are written (the models are fitted as for all, so their lists equal the
    full submission's rows). `shard`: only its customers (`shards`), with the models every shard shares."""
    refuse_inside(out, {"store": data, "cache": cache_dir})
    methods = checked_methods(methods, rank_with)
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give the submission file's name, e.g. {out / 'submission.csv'}")
    store = Store.open(data)
    week = resolve_week("next", store.first_date, store.last_date)
    cache = Cache(cache_dir)
    scored = store.submission_customers
    if customers is not None:
        only = select_customers(store, week, str(customers), None)[0]
        scored = scored.filter(scored.is_in(only.implode()))
    scored = shards.only(scored, shard, store.customers)
    if rank_with is not None:
        request = RankRequest(
            rank_with.ranker,
            methods,
            week,
            rank_with.train_weeks,
            rank_with.k,
            plugins,
            "all",
            drop_bought,
            shard,
        )
        entries = [rank(store, cache, request, seed=seed, device=device, resume=resume, on_progress=on_progress)]
    else:
        entries = [
            run(
                store,
                cache,
                Request(method, week, K, plugins, "all", drop_bought, shard),
                seed=seed,
                on_progress=on_progress,
                device=device,
                resume=resume,
            )
            for method in methods
        ]
    if not leads():  # the models are trained: rank 0 writes the submission
        return None
    popular = fill_order(store, week)
    if popular.height < K:
        from hmrec_cli import console

        console.warn(
            f"the catalogue holds only {popular.height} articles: each prediction lists all {popular.height} (the Kaggle format takes fewer than {K}; MAP@12 divides by min({K}, purchases))"
        )
    customers = scored.sort()
    lists = []
    for lo in range(0, customers.len(), CHUNK):
        on_progress("merge", lo, customers.len())
        chunk = customers.slice(lo, CHUNK)
        lists.append(_merge(entries, chunk, popular))
    labels = store.article_labels()
    if (spaced := labels.filter(pl.col("label").str.contains(r"\s"))).height:
        raise InputError(
            f"item id {spaced['label'][0]!r} holds a space: the submission's space-separated prediction cannot name it "
            f"({spaced.height} such items; give the order log ids without spaces)"
        )
    merged = (
        pl.concat(lists)
        .join(labels, on="article", maintain_order="left")
        .sort("customer", "position")  # the order is what MAP@12 scores: never leave it to a join
        .group_by("customer", maintain_order=True)
        .agg(prediction=pl.col("label").str.join(" "))
    )
    submission = (
        pl.DataFrame({"customer": scored})
        .join(merged, on="customer", how="left", maintain_order="left")
        .join(store.customers.select("customer", "customer_id"), on="customer", maintain_order="left")
        .select("customer_id", "prediction")
    )
    validate(submission, store, popular.height, scored.len())
    write(submission, out, store, week, command)
    return Written(submission.height, popular.height, entries[0] if rank_with is not None else None)


def write(submission: pl.DataFrame, out: Path, store: Store, week, command: dict | None) -> None:
    """Write a validated submission and its provenance sidecar atomically (the sidecar is written and
    renamed first: a failure leaves neither new file); a write that fails for a reason a user can
    fix is an InputError naming `out`."""
    try:
        with atomic_file(out) as tmp:
            submission.write_csv(tmp)
            provenance.write(out, store.fingerprint, store.last_date, week.start, command, content=tmp)
    except Exception as error:
        if (why := write_failure(error)) is None:
            raise
        raise InputError(f"cannot write {out}: {why}") from None


def fill_order(store: Store, week) -> pl.DataFrame:
    """What tops up every list, at most K articles: last week's most popular (the whole history's
    when that week sold nothing), then the rest of the catalogue by sales, so every list reaches
    K articles, or holds the whole catalogue when it has fewer than K."""
    past = history(store.transactions, week)
    sold = past.group_by("article").agg(n=pl.len())
    rest = (
        store.articles.select("article")
        .join(sold, on="article", how="left")
        .sort(pl.col("n").fill_null(0), "article", descending=[True, False])
    )
    recent = recent_popularity(past, week).select(pl.col("article").cast(pl.UInt32))
    return pl.concat([recent, rest.select(pl.col("article").cast(pl.UInt32))]).unique(maintain_order=True).head(K)


def _merge(entries, customers: pl.Series, popular: pl.DataFrame) -> pl.DataFrame:
    """Top K per customer of `customers` (sorted) with their position: sources in order, then the popular fill."""
    lo, hi = customers[0], customers[-1]
    parts = []
    for order, entry in enumerate(entries):
        cands = pl.scan_parquet(entry.path).filter(pl.col("customer").is_between(lo, hi)).collect()
        parts.append(ordered(cands).select("customer", "article", source=pl.lit(order), rank="rank"))
    fill = pl.DataFrame({"customer": customers}).join(popular.select("article").with_row_index("rank"), how="cross")
    parts.append(
        fill.select(
            "customer",
            pl.col("article").cast(pl.UInt32),
            source=pl.lit(len(entries)),
            rank=pl.col("rank").cast(pl.UInt32),
        )
    )
    return (
        pl.concat(parts)
        .filter(pl.col("customer").is_in(customers.implode()))
        .sort("customer", "source", "rank")
        .unique(subset=["customer", "article"], keep="first", maintain_order=True)
        .group_by("customer", maintain_order=True)
        .head(K)
        .select("customer", "article", position=pl.int_range(pl.len(), dtype=pl.UInt32).over("customer"))
    )


def validate(submission: pl.DataFrame, store: Store, per_customer: int, expected: int | None = None) -> None:
    """Row count (`expected`, default every submission customer), unique customers, `per_customer`
    (12, or the whole catalogue when it holds fewer) distinct known ids each: checked before anything is written."""
    expected = store.submission_customers.len() if expected is None else expected
    if submission.height != expected:
        raise RuntimeError(f"submission has {submission.height} rows, expected {expected}")
    if submission["customer_id"].is_duplicated().any():
        raise RuntimeError("submission lists a customer twice")
    tokens = submission["prediction"].fill_null("").str.split(" ")
    if not (tokens.list.len() == per_customer).all() or not (tokens.list.n_unique() == per_customer).all():
        raise RuntimeError(f"every customer needs {per_customer} distinct articles")
    known = store.article_labels()["label"]
    if not tokens.explode().is_in(known.implode()).all():
        raise RuntimeError("submission names an article the store does not know")
