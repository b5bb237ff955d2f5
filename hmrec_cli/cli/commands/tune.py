"""`hmrec tune`: search a retriever's or ranker's parameters on the weeks before --week and write
the best to the project config when it clearly beats the settings in force on the hold-out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hmrec_cli.cli.commands.options import (
    MAX_K,
    MAX_WEEKS,
    CacheDir,
    ConfigFile,
    DataDir,
    Device,
    Json,
    PluginOptions,
    Quiet,
    Seed,
    TrainWeeks,
    Week,
    in_force,
    setting,
)


def tune(
    ctx: typer.Context,
    method: Annotated[
        Optional[str], typer.Option(help="Retriever to tune (see `hmrec plugins`).", show_default=False)
    ] = None,
    ranker: Annotated[
        Optional[str], typer.Option(help="Ranker to tune instead, over --candidates.", show_default=False)
    ] = None,
    candidates: Annotated[
        Optional[str],
        typer.Option(help="With --ranker: comma-separated retrievers whose candidates it ranks.", show_default=False),
    ] = None,
    data: DataDir = Path("hm"),
    cache: CacheDir = Path("cache"),
    week: Week = "last",
    weeks: Annotated[
        int,
        typer.Option(
            help="Tune on this many weeks just before --week (never on --week itself, which is then scored as a hold-out).",
            min=1,
            max=MAX_WEEKS,
        ),
    ] = 4,
    trials: Annotated[
        int,
        typer.Option(
            help="Parameter sets to try; trial 0 is the settings in force (defaults, config file, -o).",
            min=1,
            max=10_000,
        ),
    ] = 40,
    metric: Annotated[
        Optional[str],
        typer.Option(
            help="recall@N or map@12, pooled over the tuning weeks' buyers (default: recall@K for a retriever, map@12 for a ranker).",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option(help="Candidates per customer (per source, for a ranker).", min=1, max=MAX_K)] = 100,
    train_weeks: TrainWeeks = "4",
    holdout_weeks: Annotated[
        int,
        typer.Option(
            help="Score the start and the best on --week and the weeks after it, this many in all (none of them was used to choose).",
            min=1,
            max=MAX_WEEKS,
        ),
    ] = 1,
    params: Annotated[
        Optional[str],
        typer.Option(
            "--params",
            help="Search only these parameters (comma-separated; default: every one with a search range).",
            show_default=False,
        ),
    ] = None,
    option: PluginOptions = [],
    config: ConfigFile = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write/--no-write",
            help="Write the best settings to the config file ([plugins.NAME]), keeping the rest of it.",
        ),
    ] = True,
    min_gain_se: Annotated[
        float,
        typer.Option(
            help="Write only when the best beats trial 0 by more than this many standard errors of the paired per-buyer difference on the hold-out (on the tuning weeks for --week next); 0: whenever it gains.",
            min=0,
        ),
    ] = 2.0,
    device: Device = "auto",
    seed: Seed = 0,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Search a plugin's parameters (the ranges `hmrec plugins show NAME` lists) on rolling weeks before
    --week, cached like any run; show each trial as it finishes; score the start and the best on
    --week itself, which no trial saw; write the best to hmrec.toml when it clearly gains there.
    --data, --cache, --k, --train-weeks and (with --ranker) --candidates not given come from the config's
    [pipeline] table, as on rank."""
    from hmrec_cli import console, project_config
    from hmrec_cli.cache import Cache
    from hmrec_cli.data.splits import resolve_week
    from hmrec_cli.data.store import Store
    from hmrec_cli.errors import InputError
    from hmrec_cli.pipeline.plugin_params import named, resolve
    from hmrec_cli.pipeline.settings import as_options
    from hmrec_cli.pipeline.settings import sources as parsed_sources
    from hmrec_cli.pipeline.tuning import TuneRequest, check_metric, holdout, unclear_gain
    from hmrec_cli.pipeline.tuning import tune as run_tune

    if (method is None) == (ranker is None):
        raise InputError("give exactly one of --method RETRIEVER or --ranker RANKER (with --candidates)")
    if method is not None and candidates:
        raise InputError("--candidates goes with --ranker; --method tunes one retriever on its own")
    settings = project_config.load(config, must_exist=not write)
    forced = in_force(ctx, settings, data=data, cache=cache, train_weeks=train_weeks, k=k)
    if ranker is not None:
        candidates = setting(ctx, settings, "candidates", candidates)[0]
    if ranker is not None and not candidates:
        raise InputError(
            "--ranker needs --candidates: the retrievers whose candidates it ranks, e.g. popular,repurchase,itemcf"
        )
    sources = parsed_sources(candidates) if candidates else ()
    k, data, cache = forced.k, forced.data, forced.cache
    chosen = metric or ("map@12" if ranker else f"recall@{k}")
    check_metric(chosen, k, ranker is not None)
    store = Store.open(data)
    target = resolve_week(week, store.first_date, store.last_date)
    only = tuple(p.strip() for p in (params or "").split(",") if p.strip())
    plugins = (
        resolve(option, settings, named(store, sources), ranker, forced.train_weeks)
        if ranker
        else resolve(option, settings, (method,))
    )
    request = TuneRequest(
        method or ranker, target, weeks, trials, chosen, k, sources, forced.train_weeks, plugins, only, holdout_weeks
    )
    table = TrialTable(
        chosen, live=not (quiet or json) and console.out.is_terminal, plain=not json and not console.out.is_terminal
    )
    with console.progress_bar(quiet or json) as report, table:
        outcome = run_tune(
            store, Cache(cache), request, seed=seed, on_trial=table.add, on_progress=report, device=device
        )
        best, start = outcome.best, outcome.trials[0]
        held = (
            holdout(store, Cache(cache), request, start.params, best.params, seed, report, device)
            if target.has_truth
            else {}
        )
    tuned_gain, tuned_gain_se = outcome.gain()
    values = {**settings.values(request.plugin), **outcome.pinned, **best.params}
    unclear = unclear_gain(outcome, held, min_gain_se) if write else None
    written = write and unclear is None
    if written:
        comment = f"hmrec tune: {chosen} {best.mean:.4f} ± {best.se:.4f} on {len(outcome.weeks)} weeks before {target.start} (trial {best.number} of {len(outcome.trials)}; start {start.mean:.4f}), seed {seed}"
        project_config.write_table(settings.path, request.plugin, values, comment)
    if json:
        console.emit_json(
            {
                "plugin": request.plugin,
                "kind": "ranker" if ranker else "retriever",
                "sources": sources if isinstance(sources, str) else list(sources),
                "metric": chosen,
                "week": target.start.isoformat(),
                "tuning_weeks": [w.start.isoformat() for w in outcome.weeks],
                "seed": seed,
                "searched": [d.name for d in outcome.dims],
                "pinned": outcome.pinned,
                "trials": [t.as_dict() for t in outcome.trials],
                "best": best.as_dict(),
                "start": start.as_dict(),
                "gain": tuned_gain,
                "gain_se": tuned_gain_se,
                "config": str(settings.path),
                "written": written,
                "written_values": values if written else None,
                "not_written_because": unclear,
                "holdout": held or None,
            }
        )
        return
    if not table.live:
        table.print_final()
    console.out.print(
        f"best: trial {best.number}, {chosen} {best.mean:.4f} ± {best.se:.4f} on the {len(outcome.weeks)} weeks before {target.start}: "
        f"{tuned_gain:+.4f} ± {tuned_gain_se:.4f} (paired) over trial 0, the settings in force; chosen on these weeks, so optimistic",
        highlight=False,
    )
    if held:
        pairs = (
            [("start = best (trial 0)", held["start"])]
            if best is start
            else [("start (trial 0)", held["start"]), (f"best (trial {best.number})", held["best"])]
        )
        rows = [[label, h["metric"], h["se"], h["customer_weeks"]] for label, h in pairs]
        where = f"week {target}" if holdout_weeks == 1 else f"{holdout_weeks} weeks from {target.start}"
        console.show(f"Hold-out: {where} (not used to choose)", ["settings", chosen, "± SE", "buyer-weeks"], rows)
        if not held["start"]["customer_weeks"]:
            console.out.print(
                "the hold-out has no buyers (no purchases in it): nothing to score the settings on", highlight=False
            )
        elif best is not start:
            console.out.print(
                f"best - start on the hold-out: {held['gain']:+.4f} ± {held['gain_se']:.4f} (paired)", highlight=False
            )
    if written:
        console.out.print(
            f"wrote [plugins.{request.plugin}] to {settings.path}: "
            + ", ".join(f"{n} = {project_config.toml_value(v)}" for n, v in values.items()),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    elif best is start and unclear:
        console.out.print(f"not written: {unclear}", highlight=False)
    else:
        why = f"not written: {unclear}" if unclear else "not written (--no-write)"
        console.out.print(
            f"{why}; to use it: " + " ".join(f"-o {o}" for o in as_options(values)),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


class TrialTable:
    """The trials as they finish: a table redrawn in place on a terminal, one plain line per trial
    otherwise; the best so far in bold green."""

    def __init__(self, metric: str, live: bool, plain: bool):
        self.metric, self.live, self.plain = metric, live, plain
        self.outcome = None
        self._live = None

    def __enter__(self):
        if self.live:
            from rich.live import Live

            from hmrec_cli import console

            self._live = Live(console=console.out, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)

    def add(self, trial, outcome) -> None:
        from hmrec_cli import console

        self.outcome = outcome
        if self._live is not None:
            self._live.update(self.render(), refresh=True)
        elif self.plain:
            params = ", ".join(f"{n}={shown(v)}" for n, v in trial.params.items())
            console.out.print(
                f"trial {trial.number}: {self.metric} {trial.mean:.4f} ± {trial.se:.4f}  {trial.seconds:.1f} s{' (cached)' if trial.cached else ''}  {params}",
                highlight=False,
                soft_wrap=True,
            )

    def print_final(self) -> None:
        from hmrec_cli import console

        if self.outcome is not None:  # not a terminal: as wide as the table needs, not 80 columns
            from rich.console import Console

            Console(file=console.out.file, width=max(console.out.width, 200), no_color=console.out.no_color).print(
                self.render()
            )

    def render(self):
        from rich import box
        from rich.table import Table

        outcome = self.outcome
        best = outcome.best
        table = Table(
            title=f"Trials ({self.metric} pooled over {len(outcome.weeks)} weeks)",
            header_style="bold",
            box=box.SIMPLE_HEAD,
            title_justify="left",
        )
        table.add_column("trial", justify="right")
        for d in outcome.dims:
            table.add_column(d.name, justify="left" if d.choices else "right")
        for name in (self.metric, "± SE", "seconds"):
            table.add_column(name, justify="right")
        table.add_column("")
        for t in outcome.trials:
            cells = [
                str(t.number),
                *(shown(t.params[d.name]) for d in outcome.dims),
                f"{t.mean:.4f}",
                f"{t.se:.4f}",
                f"{t.seconds:.1f}",
                ", ".join(w for w, on in (("best", t is best), ("cached", t.cached)) if on),
            ]
            table.add_row(*cells, style="bold green" if t is best else None)
        return table


def shown(value) -> str:
    """A parameter value as -o takes it: 3 significant digits for a float, true/false for a bool."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
