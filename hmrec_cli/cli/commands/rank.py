"""`hmrec rank`: learn to order the union of candidate sets from earlier weeks, rank a week."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from hmrec_cli.cli.commands.options import (
    MAX_K,
    Address,
    CacheDir,
    Candidates,
    ConfigFile,
    Customers,
    DataDir,
    Device,
    DropBought,
    Engine,
    Force,
    Json,
    Quiet,
    Resume,
    Seed,
    ShardCount,
    ShardText,
    TrainWeeks,
    Week,
    Workers,
    as_words,
    checked_engine,
    in_force,
)
from hmrec_cli.cli.commands.workers import fan_out
from hmrec_cli.toolkit.data_parallel import leads

if TYPE_CHECKING:
    from hmrec_cli.pipeline.manifests import RankingManifest


def rank(
    ctx: typer.Context,
    candidates: Candidates = None,
    ranker: Annotated[str, typer.Option(help="Ranker name (see `hmrec plugins`).")] = "din",
    data: DataDir = Path("hm"),
    cache: CacheDir = Path("cache"),
    week: Week = "last",
    train_weeks: TrainWeeks = "4",
    k: Annotated[int, typer.Option(help="Candidates per customer from each source.", min=1, max=MAX_K)] = 100,
    option: Annotated[
        list[str],
        typer.Option(
            "--option",
            "-o",
            help="key=value for the ranker, source:key=value for a source (repeatable); see `hmrec plugins show NAME`.",
        ),
    ] = [],
    config: ConfigFile = None,
    customers: Customers = "auto",
    shard: ShardText = None,
    engine: Engine = "local",
    address: Address = None,
    shards: ShardCount = 4,
    drop_bought: DropBought = "auto",
    device: Device = "auto",
    resume: Resume = False,
    workers: Workers = 1,
    force: Force = False,
    seed: Seed = 0,
    plot: Annotated[
        bool,
        typer.Option("--plot", help="Draw the training curve (loss and validation MAP@12 per epoch) in the terminal."),
    ] = False,
    plot_out: Annotated[
        Optional[Path],
        typer.Option(help="Write the training curve to this .png or .svg file (needs matplotlib).", show_default=False),
    ] = None,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Fit a ranker on labelled candidates of the weeks before --week, then write each customer's top 12 to the cache.
    Options not given come from the config's [pipeline] table (see `hmrec config show`)."""
    fan_out(ctx, workers, device)
    from hmrec_cli import console
    from hmrec_cli.cache import Cache
    from hmrec_cli.data.splits import resolve_week
    from hmrec_cli.data.store import Store
    from hmrec_cli.pipeline.manifests import RankingManifest
    from hmrec_cli.pipeline.plugin_params import named, resolve
    from hmrec_cli.pipeline.ranking import RankRequest
    from hmrec_cli.pipeline.ranking import rank as run_rank
    from hmrec_cli.pipeline.settings import DropBought as DropBoughtWord
    from hmrec_cli.project_config import load
    from hmrec_cli.reports import plots

    settings = load(config)
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
    store = Store.open(forced.data)
    target = resolve_week(week, store.first_date, store.last_date)
    sources = forced.sources()
    plugins = resolve(option, settings, named(store, sources), forced.ranker, forced.train_weeks)
    request = RankRequest(
        forced.ranker, sources, target, forced.train_weeks, forced.k, plugins, customers, forced.drop_bought,
        forced.shard,
    )  # fmt: skip
    if plot_out is not None:
        plots.check_path(plot_out)
    if checked_engine(engine, shard):
        from hmrec_cli.cli.commands.shard_lines import shard_lines
        from hmrec_cli.pipeline.ray_engine import rank_on_ray

        run = dict(seed=seed, device=device, resume=resume, force=force)
        with console.progress_bar(quiet or json) as report, shard_lines(quiet or json) as on_shard:
            entry = rank_on_ray(store, Cache(forced.cache), request, shards, address, run, report, on_shard)
    else:
        with console.progress_bar(quiet or json) as report:
            entry = run_rank(
                store,
                Cache(forced.cache),
                request,
                seed=seed,
                device=device,
                resume=resume,
                force=force,
                on_progress=report,
            )
    if not leads():  # rank 0 reports and writes the plot
        return
    m = RankingManifest.of(entry)
    figure = plots.training_curve(m.training, entry.label)
    if plot_out is not None and figure:
        plots.save(figure, plot_out)
    if json:
        console.emit_json({"name": entry.label, "path": str(entry.path), "cached": entry.cached, **m.as_dict()})
        return
    show_ranking(entry, m, target, console)
    kept = kept_merge(forced.ranker, m)
    show_newest_week(m.newest_training_week, console, kept=bool(kept))
    if kept:
        console.out.print(kept, highlight=False, markup=False, soft_wrap=True)
    show_figures(entry, m, target, forced.ranker, bool(kept), console)
    if not plot:
        show_epochs(m.training, console)
    if plot and figure:
        console.out.print(
            plots.terminal(figure, colour=console.out.is_terminal), highlight=False, markup=False, soft_wrap=True
        )
    elif plot or (plot_out is not None and not figure):
        console.warn(f"{forced.ranker} keeps no per-epoch training log, so there is no curve to draw")
    if plot_out is not None and figure:
        console.out.print(f"wrote {plot_out}", highlight=False)
    data, cache = forced.data, forced.cache
    if target.has_truth:
        hint = console.reproduce(
            "evaluate", "--week", str(target.start), "--predictions", entry.label, data=data, cache=cache
        )
        console.out.print(f"score it with:\n  {hint}", highlight=False, soft_wrap=True)
        return
    # week next has no purchases to score: what follows is the submission, with this ranking's settings
    words = [
        "submit",
        "--candidates",
        as_words(sources),
        "--ranker",
        forced.ranker,
        "--train-weeks",
        str(len(m.train_weeks)),
        *(w for o in option for w in ("-o", o)),
        *(["--drop-bought", str(forced.drop_bought)] if forced.drop_bought is not DropBoughtWord.AUTO else []),
        *(["--seed", str(seed)] if seed else []),
        *(["--config", str(config)] if config is not None else []),
    ]
    console.out.print(
        f"write the Kaggle submission with:\n  {console.reproduce(*words, data=data, cache=cache)}",
        highlight=False,
        soft_wrap=True,
    )


def show_ranking(entry, m: RankingManifest, target, console) -> None:
    """The ranking's first line, its empty training weeks and the sources --candidates auto chose."""
    timing = (
        f"{entry.provenance()}"
        if entry.cached
        else f"trained in {m.fit_seconds:.1f} s, scored in {m.score_seconds:.1f} s on {m.device}"
    )
    console.out.print(
        f"{entry.label}: top 12 for {console.plural(m.customer_count, 'customer')} ({m.customers}{', shard ' + m.shard if m.shard else ''}), week {target}; "
        f"trained on {len(m.train_weeks)} weeks ({m.training_rows:,} candidate rows); {timing}",
        highlight=False,
    )
    if m.empty_train_weeks:
        console.warn(
            f"no purchases in the training week(s) starting {', '.join(m.empty_train_weeks)}: trained on the other {len(m.train_weeks)}"
        )
    if m.source_choice:
        steps = [
            [c["source"], c.get("map@12", ""), c.get("gain", ""), c.get("stderr", ""), c["why"]]
            for c in m.source_choice["steps"]
            if "source" in c
        ]
        console.show(
            f"--candidates auto: {', '.join(m.sources)} of the pool, chosen on the training weeks (equal-weight fusion)",
            ["source", "MAP@12", "gain", "stderr", ""],
            steps,
        )
    if (importance := m.training.get("feature_importance")) and any(importance.values()):  # all 0: no trees kept
        top = list(importance.items())[:10]
        console.show("Strongest features (share of the trees' gain)", ["feature", "share"], [[n, v] for n, v in top])


def show_figures(entry, m: RankingManifest, target, ranker: str, kept: bool, console) -> None:
    """The ranking's MAP@12 and recall@12 on the week's buyers beside each source's own order, the
    union's recall and the oracle's (a week with purchases)."""
    f = m.figures
    if f is None:
        return
    if f["buyers"] == 0:
        console.out.print(
            f"0 buyers: nobody bought anything in the week {target}, so the ranking has no score", highlight=False
        )
        return
    rows = [[entry.label, f["map@12"], f["recall@12"]]]
    if kept:  # the ranking is merge's order: merge scores the same
        rows.append([f"merge (the order {ranker} kept)", f["map@12"], f["recall@12"]])
    rows += [[f"{s} (own order)", v, ""] for s, v in f["sources_map@12"].items() if v is not None]
    rows.append(["union of the sources (R@all)", "", f["union_recall@all"]])
    if "oracle_map@12" in f:
        rows.append(["oracle (ceiling)", f["oracle_map@12"], ""])
    console.show(f"Week {target}: the week's buyers", ["ranking", "MAP@12", "recall@12"], rows)


def show_epochs(training: dict, console) -> None:
    """The training log's epochs as a table, the best marked (a ranker that keeps one)."""
    epochs = training.get("epochs") or []
    if not epochs:
        return
    best = training.get("best_epoch")
    console.show(
        "Training (validation: MAP@12 of the newest training week's buyers)",
        ["epoch", "loss", "validation", "seconds", ""],
        [
            [
                e["epoch"],
                e["loss"],
                e["validation"] if e["validation"] is not None else "",
                e["seconds"],
                "best" if e["epoch"] == best else "",
            ]
            for e in epochs
        ],
    )


def kept_merge(ranker: str, manifest: RankingManifest) -> str | None:
    """One line when a learned ranker kept merge's order, else None. Its gate (lgbm, din: the
    training log's `gain` on held-out buyers of the training weeks, the `min_gain_se` parameter) keeps
    the trained model only when the gain is above min_gain_se standard errors of the per-buyer difference."""
    gain, bar = manifest.training.get("gain"), manifest.params.get("min_gain_se")
    if gain is None or bar is None:
        return None
    if isinstance(gain, str):  # no buyer of the newest training week to measure a gain on
        return f"{ranker} kept merge's order: no gain measurable on the newest training week (no buyer has a purchase among the candidates in one of its halves)"
    if not gain["map@12"] <= bar * gain["stderr"]:
        return None
    weeks = "the newest training week" if gain["weeks"] == 1 else f"{gain['weeks']} training weeks"
    return f"{ranker} kept merge's order: gain {gain['map@12']:+.4f} ± {gain['stderr']:.4f} on {gain['buyers']:,} held-out buyers of {weeks}, below {bar:g} SE"


def show_newest_week(newest: dict, console, kept: bool = False) -> None:
    """The ranker beside merge and each source on the newest training week; red when below merge
    (not when the ranker `kept` merge's order: then it differs from merge only in ties);
    the strongest features of a ranker that reports their importance."""
    ranker = newest["ranker"]
    rows = [[ranker, newest[ranker]]]
    if "merge" in newest and ranker != "merge":
        rows.append(["merge", newest["merge"]])
    rows += [[f"{s} (own order)", v] for s, v in newest["sources"].items()]
    console.show(
        f"Newest training week {newest['week']} (seen in training: optimistic for every learned order)",
        ["order", "MAP@12"],
        rows,
    )
    best_simple = max(newest["sources"].values(), default=0.0)
    if "merge" in newest and newest[ranker] < newest["merge"] and not kept:
        console.err.print(
            f"[bold red]warning:[/] {ranker} ({newest[ranker]:.4f}) is below merge ({newest['merge']:.4f}) on the newest training week: "
            "prefer --ranker merge for this data, or add training weeks (--train-weeks)",
            highlight=False,
            soft_wrap=True,
        )
    elif newest[ranker] < best_simple:
        console.err.print(
            f"[bold red]warning:[/] {ranker} ({newest[ranker]:.4f}) is below a source's own order ({best_simple:.4f}) on the newest training week",
            highlight=False,
            soft_wrap=True,
        )
