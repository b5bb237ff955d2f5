"""`hmrec recommend`: some customers' 12, with what they bought and why, in the shop's ids."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hmrec_cli.cli.commands.options import (
    MAX_K,
    CacheDir,
    Candidates,
    ConfigFile,
    DataDir,
    Device,
    DropBought,
    Json,
    Quiet,
    Seed,
    ShardText,
    TrainWeeks,
    checked_customers_file,
    in_force,
)


def recommend(
    ctx: typer.Context,
    customer: Annotated[
        list[str],
        typer.Option("--customer", help="A customer id as the shop's data writes it (repeatable).", show_default=False),
    ] = [],
    customers: Annotated[
        Optional[Path],
        typer.Option(
            "--customers",
            help="A file of customer ids, one per line (a customer_id header allowed).",
            show_default=False,
        ),
    ] = None,
    ranker: Annotated[str, typer.Option(help="Ranker whose ranking is shown (see `hmrec plugins`).")] = "din",
    week: Annotated[
        str,
        typer.Option(
            help="next (the week after the data), last (= 0), a number of weeks back, or its first day YYYY-MM-DD."
        ),
    ] = "next",
    candidates: Candidates = None,
    train_weeks: TrainWeeks = "4",
    k: Annotated[
        int,
        typer.Option(help="When the ranking is made now: candidates per customer from each source.", min=1, max=MAX_K),
    ] = 100,
    option: Annotated[
        list[str],
        typer.Option(
            "--option",
            "-o",
            help="When the ranking is made now: key=value for the ranker, source:key=value for a source (repeatable).",
        ),
    ] = [],
    config: ConfigFile = None,
    shard: ShardText = None,
    drop_bought: DropBought = "auto",
    data: DataDir = Path("hm"),
    cache: CacheDir = Path("cache"),
    device: Device = "auto",
    seed: Seed = 0,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Each customer's 12 from the ranker (article id, name and group, score, the sources that proposed it and at
    what rank), their recent purchases and, for DIN, the purchases its attention weighs most for each article.
    Read from the newest cached ranking of the week when it covers the customers, else ranked now as `hmrec rank`
    would (options not given come from the config's [pipeline] table)."""
    from hmrec_cli import console, project_config
    from hmrec_cli.cache import Cache
    from hmrec_cli.data.splits import resolve_week
    from hmrec_cli.data.store import Store
    from hmrec_cli.errors import InputError
    from hmrec_cli.pipeline.plugin_params import named, resolve
    from hmrec_cli.pipeline.ranking import RankRequest
    from hmrec_cli.pipeline.recall import read_customer_ids
    from hmrec_cli.pipeline.recommend import recommend as run_recommend

    settings = project_config.load(config)
    forced = in_force(
        ctx,
        settings,
        data=data,
        cache=cache,
        candidates=candidates,
        ranker=ranker,
        train_weeks=train_weeks,
        k=k,
        drop_bought=drop_bought,
        shard=shard,
    )
    ids = list(customer)
    if checked_customers_file(customers) is not None:
        ids += read_customer_ids(customers).to_list()
    if not ids:
        raise InputError("name the customers: --customer ID (repeatable) or --customers FILE")
    store = Store.open(forced.data)
    if (chosen := forced.shard) is not None:  # only the named customers that fall in this shard
        import polars as pl

        from hmrec_cli.pipeline.shards import shard_of

        given = pl.Series(ids, dtype=pl.String)
        ids = given.filter(pl.Series(shard_of(given, chosen.count) == chosen.index)).to_list()
        if not ids:
            raise InputError(f"--shard {chosen}: none of the named customers is in this shard")
    target = resolve_week(week, store.first_date, store.last_date)
    sources = forced.sources()
    plugins = resolve(option, settings, named(store, sources), forced.ranker, forced.train_weeks)
    request = RankRequest(
        forced.ranker, sources, target, forced.train_weeks, forced.k, plugins, "auto", forced.drop_bought
    )
    say = (
        (lambda message: None)
        if json and quiet
        else (lambda message: console.err.print(message, highlight=False, markup=False, soft_wrap=True))
    )
    with console.progress_bar(quiet or json) as report:
        found = run_recommend(
            store, Cache(forced.cache), ids, request, seed=seed, device=device, on_progress=report, on_compute=say
        )
    if json:
        console.emit_json(as_json(found))
        return
    where = "ranked now" if found.computed else f"cached ({found.ranking.provenance()})"
    console.out.print(f"{found.ranking.label}, week {target}: {where}", highlight=False, soft_wrap=True)
    if found.attention == "kept merge's order":
        console.out.print(
            f"{forced.ranker} kept merge's order for this ranking (its gate: training did not clearly beat it), so no purchase weighed in "
            "these scores: no attention reasons",
            highlight=False,
            soft_wrap=True,
        )
    reasons = found.reasons.group_by("customer_id", "article_id", maintain_order=True).agg(
        "because_name", "because_article_id"
    )
    for (customer_id,), items in found.items.group_by("customer_id", maintain_order=True):
        items = items.join(reasons, on=["customer_id", "article_id"], how="left", maintain_order="left")
        rows = [
            [
                r["rank"],
                r["article_id"],
                r["name"] or "",
                r["group"] or "",
                r["score"],
                ", ".join(f"{s['source']} #{s['rank']}" for s in r["sources"] or []),
                *(
                    [
                        ", ".join(
                            n or i for n, i in zip(r["because_name"] or [], r["because_article_id"] or [], strict=True)
                        )
                    ]
                    if found.attention == "used"
                    else []
                ),
            ]
            for r in items.iter_rows(named=True)
        ]
        columns = [
            "rank",
            "article",
            "name",
            "group",
            "score",
            "proposed by (rank there)",
            *(["because you bought"] if found.attention == "used" else []),
        ]
        console.show(f"Customer {customer_id}: the {request.ranker} ranking's {len(rows)}", columns, rows)
        bought = found.purchases.filter(customer_id=customer_id)
        if bought.height:
            console.show(
                f"Customer {customer_id}: last {console.plural(bought.height, 'purchase')} before {target.start}",
                ["date", "article", "name", "group", "price"],
                [
                    [r["t_dat"].isoformat(), r["article_id"], r["name"] or "", r["group"] or "", r["price"]]
                    for r in bought.iter_rows(named=True)
                ],
            )
        else:
            console.out.print(f"Customer {customer_id}: no purchase before {target.start}", highlight=False)


def as_json(found) -> dict:
    """The `--json` object: the ranking's name, the week, and one object per customer."""
    import polars as pl

    reasons = found.reasons.group_by("customer_id", "article_id", maintain_order=True).agg(
        because=pl.struct(article_id="because_article_id", article_name="because_name", date="t_dat", weight="weight")
    )
    items = found.items.join(reasons, on=["customer_id", "article_id"], how="left", maintain_order="left")
    out = []
    for (customer_id,), rows in items.group_by("customer_id", maintain_order=True):
        bought = found.purchases.filter(customer_id=customer_id)
        out.append(
            {
                "customer_id": customer_id,
                "items": [
                    {
                        "rank": r["rank"],
                        "article_id": r["article_id"],
                        "article_name": r["name"],
                        "article_group": r["group"],
                        "score": r["score"],
                        "proposed_by": [{"method": s["source"], "rank": s["rank"]} for s in r["sources"] or []],
                        **(
                            {"because": [{**b, "date": b["date"].isoformat()} for b in r["because"] or []]}
                            if found.attention == "used"
                            else {}
                        ),
                    }
                    for r in rows.iter_rows(named=True)
                ],
                "recent_purchases": [
                    {
                        "date": r["t_dat"].isoformat(),
                        "article_id": r["article_id"],
                        "article_name": r["name"],
                        "article_group": r["group"],
                        "price": r["price"],
                    }
                    for r in bought.iter_rows(named=True)
                ],
            }
        )
    week = found.week
    return {
        "name": found.ranking.label,
        "week": week.start.isoformat(),
        "week_end": week.end.isoformat(),
        "cached": not found.computed,
        "attention": found.attention,
        "recommendations": out,
    }
