"""One customer's recommendations, read back in the shop's ids: the ranking's 12 with the sources
that proposed each (and at what rank), the ranker's score, the customer's recent purchases and,
for a ranker that weighs the purchase history (DIN's attention), the purchases it weighs most for
each recommended article. Also the rows `hmrec export` writes.

Everything is read from the cache: the newest intact ranking of the ranker for the week and store
(as `evaluate --predictions` finds it), the candidate sets its manifest names, and the ranker's
checkpoint, which the ranker plugin itself rebuilds (`Ranker.restore`) and explains
(`Ranker.history_weights`). Only when no cached ranking covers the customers is the ranking made
(`ranking.rank`, the same request `hmrec rank` would make).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import polars as pl

from hmrec_cli.cache import Cache, Entry
from hmrec_cli.data.splits import Week, history_prefix, truth
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.pipeline.manifests import RankingManifest
from hmrec_cli.pipeline.ranking import RANK_CHUNK, RankRequest, context, rank, union
from hmrec_cli.plugin_api import Ranker, RankingWeek
from hmrec_cli.registry import find
from hmrec_cli.toolkit.candidate_features import customer_chunks

RECENT = 10  # purchases shown per customer, the most recent first
REASONS = 3  # history purchases shown per recommended article, the most weighed first
NAME_COLUMNS = ("prod_name", "name")  # an article's name: H&M's column, else a shop's
GROUP_COLUMNS = ("product_group_name", "group")


@dataclass(frozen=True)
class Recommendations:
    """The customers' 12 and what explains them, each frame keyed by the shop's `customer_id`.

    `items`: customer_id, rank (1 = first), article_id, name, group, score, sources (a list of
    {source, rank}: each candidate set that proposed the article and its rank there, 1 = first).
    `purchases`: customer_id, t_dat, article_id, name, group, price: the last `RECENT` before the week.
    `reasons`: customer_id, article_id (recommended), because_article_id, because_name, t_dat,
    weight: the `REASONS` purchases the ranker's attention weighs most (largest |weight|: DIN's
    weights are not normalised and may be negative) for that article; empty
    unless `attention` is "used". `attention`: "used", "kept merge's order" (the ranker's gate
    kept merge's order, so no purchase weighed in the scores) or "none" (a ranker without it).
    """

    ranking: Entry
    week: Week
    computed: bool
    attention: str
    items: pl.DataFrame
    purchases: pl.DataFrame
    reasons: pl.DataFrame


def customer_indexes(store: Store, ids: list[str], option: str = "--customer") -> pl.Series:
    """The store's indexes of the shop's customer ids (in the order given, each once); an id the
    store does not hold is one line naming it (and how many there are when several)."""
    if not ids:
        raise InputError(f"{option}: name at least one customer id")
    known = store.customers.select("customer", customer_id=pl.col("customer_id").cast(pl.String))
    found = (
        pl.DataFrame({"customer_id": ids}, schema={"customer_id": pl.String})
        .unique(maintain_order=True)
        .join(known, on="customer_id", how="left", maintain_order="left")
    )
    missing = found.filter(pl.col("customer").is_null())["customer_id"]
    if missing.len() == 1:
        raise InputError(f"{option} {missing[0]}: not a customer of the store {store.path}")
    if missing.len():
        raise InputError(
            f"{option}: {missing.len()} ids are not customers of the store {store.path} (first: {', '.join(missing.head(3))})"
        )
    return found["customer"]


def article_labels(store: Store) -> pl.DataFrame:
    """article (index), article_id as the shop writes it (`Store.article_labels`: an order log's own
    item id, H&M's integers zero-padded to 10 digits as in the submission), name and group where the
    store has them (else null)."""
    articles = store.articles.join(store.article_labels(), on="article", how="left", maintain_order="left")
    shop_id = pl.col("label")
    name = next((pl.col(c).cast(pl.String) for c in NAME_COLUMNS if c in articles.columns), pl.lit(None, pl.String))
    group = next((pl.col(c).cast(pl.String) for c in GROUP_COLUMNS if c in articles.columns), pl.lit(None, pl.String))
    return articles.select("article", article_id=shop_id, name=name, group=group)


def covering_ranking(store: Store, cache: Cache, ranker: str, week: Week, customers: pl.Series) -> Entry | None:
    """The newest intact cached ranking of `ranker` (or `ranker@KEY`) for the week and store, when
    it holds every one of `customers`; else None."""
    entry = cache.resolve("rankings", ranker, week.start.isoformat(), store.fingerprint, "--ranker")
    if entry is None:
        return None
    held = (
        pl.scan_parquet(entry.path)
        .filter(pl.col("customer").is_in(customers.implode()))
        .select(pl.col("customer").n_unique())
        .collect()
        .item()
    )
    return entry if held == customers.unique().len() else None


def ranking_for(
    store: Store,
    cache: Cache,
    request: RankRequest,
    customers: pl.Series,
    seed: int = 0,
    device: str = "auto",
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
    on_compute: Callable[[str], None] = lambda message: None,
) -> tuple[Entry, bool]:
    """The cached ranking that covers `customers` (`covering_ranking`), else the one `request`
    makes: for the week's buyers when they all bought in the (past) week, else for every customer
    (a ranking of a few customers would become the week's newest, which evaluate and export read).
    Returns the entry and whether it was made now; `on_compute` hears why before the work starts."""
    found = covering_ranking(store, cache, request.ranker, request.week, customers)
    if found is not None:
        return found, False
    target = truth(store.transactions, request.week) if request.week.has_truth else None
    buyers_only = target is not None and customers.is_in(target["customer"].implode()).all()
    spec = "buyers" if buyers_only else "all"
    on_compute(
        f"no cached {request.ranker} ranking of the week {request.week} covers these customers: ranking the week's {'buyers' if buyers_only else 'customers'} now"
    )
    entry = rank(
        store, cache, dataclasses.replace(request, customers=spec), seed=seed, device=device, on_progress=on_progress
    )
    return entry, not entry.cached


def source_sets(store: Store, cache: Cache, entry: Entry) -> list[tuple[str, Entry]]:
    """The candidate sets a ranking ranked (its manifest's `source_sets`), by source name."""
    sets = []
    for label in RankingManifest.of(entry).source_sets:
        found = cache.resolve(
            "candidates", label, entry.week, store.fingerprint
        )  # method@KEY: exit 2 when gone or damaged
        sets.append((found.method, found))
    return sets


def top_rows(entry: Entry, customers: pl.Series | None = None) -> pl.DataFrame:
    """The ranking's rows (customer, article, score, rank 0..11) of `customers` (all when None)."""
    scan = pl.scan_parquet(entry.path)
    if customers is not None:
        scan = scan.filter(pl.col("customer").is_in(customers.implode()))
    return scan.collect().sort("customer", "rank")


def proposed(sets: list[tuple[str, Entry]], k: int, top: pl.DataFrame) -> pl.DataFrame:
    """Per (customer, article) of `top`: the sources that proposed it, best rank first, as a list
    of {source, rank} with rank 1 = the source's first candidate."""
    names = tuple(s for s, _ in sets)
    if not names or not top.height:
        return top.select(
            "customer", "article", sources=pl.lit([], pl.List(pl.Struct({"source": pl.String, "rank": pl.UInt32})))
        )
    candidates = union([e for _, e in sets], names, k, top["customer"].unique().sort()).join(
        top.select("customer", "article"), on=["customer", "article"], how="semi"
    )
    long = (
        candidates.unpivot(
            index=["customer", "article"], on=[f"{s}_rank" for s in names], variable_name="source", value_name="rank"
        )
        .filter(pl.col("rank") < k)
        .with_columns(pl.col("source").str.strip_suffix("_rank"), (pl.col("rank").cast(pl.UInt32) + 1))
        .sort("customer", "article", "rank", "source")
    )
    return long.group_by("customer", "article", maintain_order=True).agg(sources=pl.struct("source", "rank"))


def recommend(
    store: Store,
    cache: Cache,
    ids: list[str],
    request: RankRequest,
    seed: int = 0,
    device: str = "auto",
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
    on_compute: Callable[[str], None] = lambda message: None,
) -> Recommendations:
    """`ids` (the shop's customer ids) recommended by `request.ranker` for `request.week`:
    from the cached ranking when one covers them, else made as `ranking_for` says."""
    customers = customer_indexes(store, ids)
    entry, computed = ranking_for(store, cache, request, customers, seed, device, on_progress, on_compute)
    labels = article_labels(store)
    shop_customers = store.customers.select("customer", customer_id=pl.col("customer_id").cast(pl.String))
    order = pl.DataFrame({"customer": customers}).with_row_index("asked")
    top = top_rows(entry, customers)
    sets = source_sets(store, cache, entry)
    k = RankingManifest.of(entry).k
    items, purchases = shown(store, entry, request.week, customers, sets, k, labels)
    attention, reasons = explain(store, cache, entry, request.week, sets, k, top)
    if reasons is not None:
        because = labels.select(history_article="article", because_article_id="article_id", because_name="name")
        reasons = (
            reasons.join(top.select("customer", "article", "rank"), on=["customer", "article"])
            .sort(
                pl.col("customer"),
                pl.col("rank"),
                pl.col("weight").abs(),
                pl.col("position"),
                descending=[False, False, True, False],
            )
            .group_by("customer", "article", maintain_order=True)
            .head(REASONS)
            .join(labels.select("article", "article_id"), on="article", how="left")
            .join(because, on="history_article", how="left")
            .join(order, on="customer")
            .join(shop_customers, on="customer")
            .sort(
                pl.col("asked"),
                pl.col("rank"),
                pl.col("weight").abs(),
                descending=[False, False, True],
                maintain_order=True,
            )
            .select(
                "customer_id",
                "article_id",
                "because_article_id",
                "because_name",
                t_dat=pl.lit(request.week.start) - pl.duration(days=pl.col("age_days")),
                weight="weight",
            )
        )
    else:
        reasons = pl.DataFrame(
            schema={
                "customer_id": pl.String,
                "article_id": pl.String,
                "because_article_id": pl.String,
                "because_name": pl.String,
                "t_dat": pl.Date,
                "weight": pl.Float32,
            }
        )
    return Recommendations(entry, request.week, computed, attention, items, purchases, reasons)


def shown(
    store: Store,
    entry: Entry,
    week: Week,
    customers: pl.Series,
    sets: list[tuple[str, Entry]],
    k: int,
    labels: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`Recommendations.items` and `.purchases` of `customers` (in the order given) from the
    cached ranking `entry`: what `recommend` and `hmrec report`'s sample customers show."""
    shop_customers = store.customers.select("customer", customer_id=pl.col("customer_id").cast(pl.String))
    order = pl.DataFrame({"customer": customers}).with_row_index("asked")
    top = top_rows(entry, customers)
    items = (
        top.join(proposed(sets, k, top), on=["customer", "article"], how="left")
        .join(labels, on="article", how="left")
        .join(order, on="customer")
        .join(shop_customers, on="customer")
        .sort("asked", "rank")
        .select(
            "customer_id",
            rank=pl.col("rank") + 1,
            article_id="article_id",
            name="name",
            group="group",
            score="score",
            sources="sources",
        )
    )
    past = history_prefix(store.transactions, week)
    purchases = (
        past.filter(pl.col("customer").is_in(customers.implode()))
        .with_row_index("order")
        .sort("customer", "t_dat", "order", descending=[False, True, True])
        .group_by("customer", maintain_order=True)
        .head(RECENT)
        .join(labels, on="article", how="left")
        .join(order, on="customer")
        .join(shop_customers, on="customer")
        .sort("asked", "t_dat", "order", descending=[False, True, True])
        .select("customer_id", "t_dat", "article_id", "name", "group", "price")
    )
    return items, purchases


def explain(
    store: Store, cache: Cache, entry: Entry, week: Week, sets: list[tuple[str, Entry]], k: int, top: pl.DataFrame
) -> tuple[str, pl.DataFrame | None]:
    """The ranker's own weights of each history purchase (`Ranker.history_weights`) for the rows
    of `top`. ("none", None) for a ranker without them; ("kept merge's order", None) when its gate
    kept merge's order (no purchase weighed in the scores)."""
    cls: type[Ranker] = find("ranker", entry.method).load()
    if cls.history_weights is Ranker.history_weights:
        return "none", None
    if RankingManifest.of(entry).training.get("kept") == "merge's order":
        return "kept merge's order", None
    found = restored(store, cache, entry, week, sets, k, top["customer"].unique().sort())
    weights = found[0].history_weights(found[1]) if found is not None else None
    if weights is None:
        return "none", None
    return "used", weights.join(top.select("customer", "article"), on=["customer", "article"], how="semi")


def restored(
    store: Store, cache: Cache, entry: Entry, week: Week, sets: list[tuple[str, Entry]], k: int, customers: pl.Series
) -> tuple[Ranker, RankingWeek] | None:
    """The ranking's fitted ranker, rebuilt by its plugin from the checkpoint and training log
    (`Ranker.restore`), and the week of `customers`' whole candidate lists it scored; None when
    the ranker keeps no model or its checkpoint is gone."""
    checkpoint = cache.checkpoint_of(entry)
    if not checkpoint.is_file() or not customers.len():
        return None
    cls: type[Ranker] = find("ranker", entry.method).load()
    manifest = RankingManifest.of(entry)
    names = tuple(s for s, _ in sets)
    ranking_week = RankingWeek(context(store, week), union([e for _, e in sets], names, k, customers), names, k)
    fields = {f.name for f in dataclasses.fields(cls.Params)}
    model = cls(
        cls.Params(**{k: v for k, v in manifest.params.items() if k in fields})
    )  # a parameter an older version had is not its
    return (model, ranking_week) if model.restore(ranking_week, manifest.training, checkpoint) else None


def export_rows(
    store: Store, cache: Cache, entry: Entry, customers: pl.Series | None = None, chunk: int = RANK_CHUNK
) -> Iterator[pl.DataFrame]:
    """The ranking as the shop reads it, `chunk` customers at a time (in the store's order): customer_id,
    rank (1 = first), article_id, score, sources (`source:rank` of each set that proposed the article,
    best first, comma-separated)."""
    wanted = (
        customers
        if customers is not None
        else pl.scan_parquet(entry.path).select("customer").unique().collect()["customer"]
    )
    chunks = customer_chunks(wanted, chunk)
    return (rows.drop("customer") for rows in export_chunks(store, entry, source_sets(store, cache, entry), chunks))


def export_chunks(
    store: Store, entry: Entry, sets: list[tuple[str, Entry]], chunks: Iterable[pl.Series]
) -> Iterator[pl.DataFrame]:
    """`export_rows` of each chunk of customers, with the store's `customer` index first (by which
    an engine that exports shards apart puts their rows back in order); `sets`: `source_sets`."""
    labels = article_labels(store).select("article", "article_id")
    shop_customers = store.customers.select("customer", customer_id=pl.col("customer_id").cast(pl.String))
    k = RankingManifest.of(entry).k
    for part in chunks:
        top = top_rows(entry, part)
        yield (
            top.join(proposed(sets, k, top), on=["customer", "article"], how="left")
            .join(labels, on="article", how="left")
            .join(shop_customers, on="customer")
            .sort("customer", "rank")
            .select(
                "customer",
                "customer_id",
                rank=(pl.col("rank") + 1).cast(pl.UInt32),
                article_id="article_id",
                score="score",
                sources=pl.col("sources")
                .list.eval(
                    pl.element().struct.field("source") + ":" + pl.element().struct.field("rank").cast(pl.String)
                )
                .list.join(","),
            )
        )
