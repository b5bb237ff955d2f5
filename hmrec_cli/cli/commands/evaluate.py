"""`hmrec evaluate`: MAP@12 of predictions on one week, or pooled over rolling weeks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hmrec_cli.cli.commands.options import (
    Address,
    CacheDir,
    ConfigFile,
    DataDir,
    Device,
    Engine,
    Json,
    PluginOptions,
    Quiet,
    Resume,
    Seed,
    ShardCount,
    checked_engine,
    in_force,
)


def evaluate(
    ctx: typer.Context,
    data: DataDir = Path("hm"),
    week: Annotated[
        str, typer.Option(help="Target week: last (= 0), a number of weeks back, or its first day YYYY-MM-DD.")
    ] = "last",
    predictions: Annotated[
        Optional[str],
        typer.Option(
            help="A Kaggle-format submission file (customer_id,prediction), or a cached ranking: din (the newest for the week) or din@KEY.",
            show_default=False,
        ),
    ] = None,
    weeks: Annotated[
        int, typer.Option(help="Rolling back-test: this many consecutive weeks ending at --week.", min=1)
    ] = 1,
    predictions_dir: Annotated[
        Optional[Path],
        typer.Option(
            help="Folder with one submission file per week, named <week start>.csv (e.g. 2020-09-16.csv).",
            show_default=False,
        ),
    ] = None,
    candidates: Annotated[
        Optional[str],
        typer.Option(
            help="Compare candidate sets instead: comma-separated methods (method@key names one cached set); missing ones are built.",
            show_default=False,
        ),
    ] = None,
    engine: Engine = "local",
    address: Address = None,
    shards: ShardCount = 4,
    option: PluginOptions = [],
    config: ConfigFile = None,
    cache: CacheDir = Path("cache"),
    device: Device = "auto",
    resume: Resume = False,
    seed: Seed = 0,
    plot: Annotated[
        bool, typer.Option("--plot", help="With --candidates: draw recall@K (K = 1..100) of each set in the terminal.")
    ] = False,
    plot_out: Annotated[
        Optional[Path],
        typer.Option(
            help="With --candidates: write the recall@K figure to this .png or .svg file (needs matplotlib).",
            show_default=False,
        ),
    ] = None,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Score predictions with the Kaggle MAP@12 against the week's purchases (history cut at the week's start),
    or compare candidate sets (recall@K, MAP@12 of their own order, coverage, by buyer segment). With neither
    --predictions nor --candidates: every candidate set and ranking cached for the week, side by side."""
    from hmrec_cli import console, project_config
    from hmrec_cli.data import provenance
    from hmrec_cli.data.splits import rolling_weeks
    from hmrec_cli.data.store import Store
    from hmrec_cli.errors import InputError
    from hmrec_cli.pipeline.evaluation import (
        cached_predictions,
        evaluate_week,
        flag_leak,
        names_a_ranking,
        pooled,
        read_submission,
        scored_week,
    )

    on_ray = checked_engine(engine, None)
    settings = project_config.load(config)
    forced = in_force(ctx, settings, data=data, cache=cache)
    data, cache = forced.data, forced.cache
    if candidates is not None:
        if predictions is not None or predictions_dir is not None:
            raise InputError("--candidates compares candidate sets; leave out --predictions and --predictions-dir")
        ray = {"shards": shards, "address": address} if on_ray else None
        _evaluate_candidates(
            data,
            cache,
            week,
            weeks,
            candidates,
            option,
            seed,
            quiet,
            json,
            device,
            resume,
            plot,
            plot_out,
            settings,
            ray,
        )
        return
    if on_ray:
        raise InputError("--engine ray builds candidate sets by shard: use it with --candidates A,B")
    if plot or plot_out is not None:
        raise InputError("--plot and --plot-out draw candidate sets' recall curves: use them with --candidates")
    if predictions is not None and predictions_dir is not None:
        raise InputError("give exactly one of --predictions FILE, --predictions-dir DIR or --candidates A,B")
    if predictions is None and predictions_dir is None:
        if weeks > 1:
            raise InputError(
                "--weeks N needs --predictions-dir DIR, a cached ranking (--predictions din) or --candidates A,B"
            )
        _cached_side_by_side(data, cache, week, json)
        return
    ranking = predictions is not None and names_a_ranking(predictions)
    if predictions is not None and weeks > 1 and not ranking:
        raise InputError(
            "--weeks N needs --predictions-dir DIR with one file per week (<week start>.csv), or a cached ranking name (--predictions din)"
        )
    store = Store.open(data)
    target = scored_week(store, week)
    results, seen = [], []
    for w in rolling_weeks(target, weeks, store.first_date):
        if ranking:
            found, label = cached_predictions(cache, predictions, w, store)
            if not json:
                console.err.print(f"week {w.start}: ranking {label}", highlight=False)
            results.append(evaluate_week(store, w, found))
            seen.append((label, None))  # a cached ranking is fitted for its week by construction
            continue
        path = Path(predictions) if predictions is not None else predictions_dir / f"{w.start.isoformat()}.csv"
        if not path.is_file():
            raise InputError(f"{path}: no such file (predictions for the week {w})")
        result = evaluate_week(store, w, read_submission(path, store))
        for message in result.predictions.warnings(path.name):
            console.warn(message)
        results.append(result)
        seen.append((path.name, provenance.leak(provenance.read(path), w.start)))

    summaries = [flag_leak(r.summary(), reason) for r, (_, reason) in zip(results, seen, strict=True)]
    for s, (name, _) in zip(summaries, seen, strict=True):
        if s["leaked"]:
            console.err.print(
                f"[red]warning: {name} on the week from {s['week']}: {s['leak_reason']}; the score means nothing[/]",
                highlight=False,
                soft_wrap=True,
            )
    if weeks == 1:
        summary = summaries[0]
        if json:
            console.emit_json(summary)
            return
        _print_week(console, summary, results[0].week)
        return
    report = pooled(results)
    report["weeks"] = summaries
    report["leaked"] = any(s["leaked"] for s in summaries)
    if json:
        console.emit_json(report)
        return
    rows = [[w["week"], w["week_end"], w["scored_customers"], w["map@12"], w["recall@12"]] for w in report["weeks"]]
    rows.append(["pooled", "", report["customer_weeks"], report["map@12"], ""])
    console.show(
        f"Rolling back-test, {console.plural(weeks, 'week')} ending {target}",
        ["week", "ends", "scored customers", "MAP@12", "recall@12"],
        rows,
    )
    console.out.print(
        f"pooled MAP@12 {console.fmt(report['map@12'])} ± {console.fmt(report['stderr'])} (standard error over {console.plural(report['customer_weeks'], 'customer-week')})"
    )
    _print_ceiling(console, report)


def _print_week(console, s: dict, week) -> None:
    rows = [
        ["all buyers", s["scored_customers"], s["map@12"], s["recall@12"]],
        ["with history", s["customers_with_history"], s["map@12_with_history"], ""],
        ["without history", s["customers_without_history"], s["map@12_without_history"], ""],
    ]
    title = f"Week {week}: MAP@12 of the week's buyers"
    console.show(title, ["customers", "scored", "MAP@12", "recall@12"], rows)
    console.out.print(f"{console.plural(s['predicted_customers'], 'customer')} in the predictions file")
    _print_ceiling(console, s)


def _print_ceiling(console, s: dict) -> None:
    if "oracle_map@12" in s:
        console.out.print(
            f"ceiling: the synthetic world's true ranking scores MAP@12 {console.fmt(s['oracle_map@12'])}; "
            f"this is {100 * s['share_of_oracle']:.1f}% of it"
        )


def _cached_side_by_side(data: Path, cache: Path, week: str, json: bool) -> None:
    """Every intact candidate set and ranking cached for the week on this store, with the figures
    their manifests recorded when they were made (nothing is recomputed), best MAP@12 first in each kind."""
    from hmrec_cli import console
    from hmrec_cli.cache import Cache
    from hmrec_cli.data.store import Store
    from hmrec_cli.pipeline.evaluation import scored_week
    from hmrec_cli.pipeline.manifests import readable

    store = Store.open(data)
    target = scored_week(store, week)
    found = [
        (e, m)
        for e in Cache(cache).entries(week=target.start.isoformat())
        if e.owned and e.damage() is None and (m := readable(e)) is not None and m.fingerprint == store.fingerprint
    ]
    rows = [
        {
            "name": e.label,
            "kind": e.kind,
            "map@12": f.get("map@12"),
            "recall@12": f.get("recall@12"),
            "recall@100": f.get("recall@100"),
            "created": m.created,
        }
        for e, m in found
        for f in [m.figures or {}]
    ]
    rows.sort(key=lambda r: (r["kind"] != "rankings", -(r["map@12"] if r["map@12"] is not None else -1.0)))
    if json:
        console.emit_json({"week": target.start.isoformat(), "week_end": target.end.isoformat(), "entries": rows})
        return
    if not rows:
        hint = console.reproduce(
            "rank", "--ranker", "merge", "--week", target.start.isoformat(), data=data, cache=cache
        )
        console.out.print(
            f"nothing cached for the week {target} on this store; make a ranking with `{hint}`",
            highlight=False,
            soft_wrap=True,
        )
        return
    from hmrec_cli.cli.commands.cache import _table  # names whole: folded on a terminal, tab-separated in a pipe

    table = [
        [
            r["name"],
            "ranking" if r["kind"] == "rankings" else "set",
            *("" if r[n] is None else r[n] for n in ("map@12", "recall@12", "recall@100")),
            str(r["created"] or "")[:16].replace("T", " "),
        ]
        for r in rows
    ]
    _table(
        console,
        f"Cached for the week {target}: figures on the week's buyers, as recorded when each was made",
        ["name", "kind", "MAP@12", "R@12", "R@100", "created (UTC)"],
        table,
    )
    console.out.print(
        "score a ranking per buyer segment: hmrec evaluate --predictions RANKING; compare sets in depth: hmrec evaluate --candidates SET,SET",
        highlight=False,
        soft_wrap=True,
    )


def _evaluate_candidates(
    data,
    cache,
    week: str,
    weeks: int,
    names: str,
    options: list[str],
    seed: int,
    quiet: bool,
    json: bool,
    device: str,
    resume: bool,
    plot: bool,
    plot_out,
    settings,
    ray: dict | None = None,
) -> None:
    """`--candidates`: the sets side by side; with `ray` (`shards`, `address`), the sets not yet
    cached are first made by shard as Ray tasks (`ray_candidates`), so the comparison reads them."""
    from hmrec_cli import console
    from hmrec_cli.cache import Cache, split_name
    from hmrec_cli.data.splits import resolve_week, rolling_weeks
    from hmrec_cli.data.store import Store
    from hmrec_cli.errors import InputError
    from hmrec_cli.pipeline.plugin_params import resolve
    from hmrec_cli.pipeline.settings import Auto, sources
    from hmrec_cli.reports import plots
    from hmrec_cli.reports.candidates_report import compare, segment_rows, table_rows

    store = Store.open(data)
    target = resolve_week(week, store.first_date, store.last_date)
    wanted = sources(names)  # the names mean what they mean on rank; each may be a set's label, name@key
    if isinstance(wanted, Auto):
        raise InputError("--candidates auto: evaluate compares the sets named, e.g. popular,repurchase")
    plugins = resolve(options, settings, tuple(dict.fromkeys(split_name(n)[0] for n in wanted)))
    if plot_out is not None:
        plots.check_path(plot_out)
    if ray is not None:
        _sets_on_ray(store, Cache(cache), wanted, target, weeks, plugins, seed, device, resume, ray, quiet or json)
    with console.progress_bar(quiet or json) as report:
        results, segments = compare(
            store,
            Cache(cache),
            list(wanted),
            rolling_weeks(target, weeks, store.first_date),
            plugins,
            seed,
            report,
            device,
            resume,
        )
    rows, by_segment = table_rows(results), segment_rows(segments)
    curves = {_method(r.name): curve for r in results if (curve := r.recall_curve())}
    figure = [
        plots.Panel(
            f"recall@K of the buyers of {console.plural(weeks, 'week')} ending {target}",
            "K",
            "recall@K",
            {name: (list(range(1, len(c) + 1)), c) for name, c in curves.items()},
        )
    ]
    if plot_out is not None:
        plots.save(figure, plot_out)
    if json:
        console.emit_json(
            {
                "week": target.start.isoformat(),
                "weeks": [w.start.isoformat() for w in rolling_weeks(target, weeks, store.first_date)],
                "sets": rows,
                "segments": by_segment,
                "recall_curves": curves,
                **({"plot_out": str(plot_out)} if plot_out is not None else {}),
            }
        )
        return
    if not rows[0]["buyers"]:
        console.out.print(
            f"0 buyers: nobody bought anything in the {weeks} week(s) ending {target}, so no set has a score",
            highlight=False,
        )
        if plot_out is not None:
            console.out.print(f"wrote {plot_out}", highlight=False)
        return
    columns = ["set", "R@12", "R@50", "R@100", "R@all", "MAP@12", "per cust.", "pairs"]
    table = [
        [
            _method(r["set"]),
            *(("", "", "") if r["set"] == "union" else (r["recall@12"], r["recall@50"], r["recall@100"])),
            r["recall@all"],
            "" if r["set"] == "union" else r["map@12"],
            r["candidates_per_customer"],
            r["pairs_covered"],
        ]
        for r in rows
    ]
    console.show(f"Candidate sets on the buyers of {console.plural(weeks, 'week')} ending {target}", columns, table)
    console.out.print(
        "R@K: share of a buyer's purchases among the set's top K (macro); MAP@12 of the set's own order; pairs: micro recall; the union has no order of its own",
        highlight=False,
    )
    for r in rows:
        if "@" in r["set"]:
            console.out.print(f"  {_method(r['set'])}: cached sets {r['set']}", highlight=False)
    seg = [
        [r["set"], r["segment"], r["buyer_weeks"], r["recall@100"], r["recall@all"], r["map@12"]] for r in by_segment
    ]
    console.show("By buyer segment", ["set", "segment", "buyer-weeks", "R@100", "R@all", "MAP@12"], seg)
    if plot:
        console.out.print(
            plots.terminal(figure, colour=console.out.is_terminal), highlight=False, markup=False, soft_wrap=True
        )
    if plot_out is not None:
        console.out.print(f"wrote {plot_out}", highlight=False)


def _sets_on_ray(
    store, cache, names, target, weeks: int, plugins, seed, device, resume, ray: dict, quiet: bool
) -> None:
    """The sets `compare` would build, made as Ray tasks with one progress line per shard."""
    from hmrec_cli import console
    from hmrec_cli.cli.commands.shard_lines import shard_lines
    from hmrec_cli.data.splits import rolling_weeks
    from hmrec_cli.pipeline.ray_candidates import sets_on_ray
    from hmrec_cli.reports.candidates_report import built_requests

    requests = built_requests(list(names), rolling_weeks(target, weeks, store.first_date), plugins)
    run = {"seed": seed, "device": device, "resume": resume}
    with console.progress_bar(quiet) as report, shard_lines(quiet) as on_shard:
        sets_on_ray(store, cache, requests, ray["shards"], ray["address"], run, report, on_shard)


def _method(label: str) -> str:
    return label.split("@")[0]
