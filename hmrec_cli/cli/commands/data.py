"""`hmrec data ...`: make, ingest and describe data sets."""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from hmrec_cli.cli.commands.options import (
    MAX_SEED,
    DataDir,
    Json,
    Quiet,
    checked_seed,
    refuse_inside,
    reports_input_errors,
)

data_app = typer.Typer(
    help="Make a synthetic H&M world, ingest Kaggle-format files into a store, describe a store.", no_args_is_help=True
)

FileOption = Annotated[
    Optional[Path], typer.Option(help="Use this file instead of finding it in RAW.", show_default=False)
]


@data_app.command()
@reports_input_errors
def ingest(
    raw: Annotated[
        Optional[Path],
        typer.Argument(
            help="Folder with articles.csv, customers.csv, transactions_train.csv (.csv, .csv.gz or .parquet), or one order log (a .csv or .parquet file) with --customer, --item and --date.",
            show_default=False,
        ),
    ] = None,
    data: DataDir = Path("hm"),
    customer: Annotated[
        Optional[str],
        typer.Option(
            help="Order log: the column holding the customer id (kept as text, exactly).",
            rich_help_panel="Order log",
            show_default=False,
        ),
    ] = None,
    item: Annotated[
        Optional[str],
        typer.Option(
            help="Order log: the column holding the item id (kept as text, exactly; outputs print it).",
            rich_help_panel="Order log",
            show_default=False,
        ),
    ] = None,
    date: Annotated[
        Optional[str],
        typer.Option(
            help="Order log: the column holding the day (YYYY-MM-DD, a time after it allowed; or see --date-format).",
            rich_help_panel="Order log",
            show_default=False,
        ),
    ] = None,
    price: Annotated[
        Optional[str],
        typer.Option(
            help="Order log: the column holding the price paid (default: every price 0).",
            rich_help_panel="Order log",
            show_default=False,
        ),
    ] = None,
    channel: Annotated[
        Optional[str],
        typer.Option(
            help="Order log: the column holding the sales channel (numbers 0-255 kept, names coded 1.. in sorted order; default 0, unknown).",
            rich_help_panel="Order log",
            show_default=False,
        ),
    ] = None,
    date_format: Annotated[
        Optional[str],
        typer.Option(
            help="Order log: strftime format of the date column when it is not ISO, e.g. %d.%m.%Y.",
            rich_help_panel="Order log",
            show_default=False,
        ),
    ] = None,
    items: Annotated[
        Optional[Path],
        typer.Option(
            help="Order log: a file of item attributes (.csv or .parquet), one row per item.",
            rich_help_panel="Order log",
            show_default=False,
        ),
    ] = None,
    item_key: Annotated[
        Optional[str],
        typer.Option(help="--items: the column holding the item id.", rich_help_panel="Order log", show_default=False),
    ] = None,
    product: Annotated[
        Optional[str],
        typer.Option(
            help="--items: the column holding the item's product (variants of one product share it); without it same-product is not offered.",
            rich_help_panel="Order log",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        Optional[str],
        typer.Option(
            help="--items: the column holding the item's group (a feature of lgbm and DIN).",
            rich_help_panel="Order log",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        Optional[str],
        typer.Option(
            help="--items: the column holding the item's name.", rich_help_panel="Order log", show_default=False
        ),
    ] = None,
    transactions: FileOption = None,
    customers: FileOption = None,
    articles: FileOption = None,
    sample_submission: FileOption = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the store already holds this input.")] = False,
    allow_gaps: Annotated[
        bool,
        typer.Option(
            "--allow-gaps",
            help="Accept dates more than 28 days after the previous date (refused otherwise: a stray late row would become the whole last week).",
        ),
    ] = False,
    max_price: Annotated[
        float, typer.Option(help="Warn about prices above this (the Kaggle prices are below 1).", min=0)
    ] = 1e6,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Read the Kaggle CSV (or Parquet) files, or one order log, into a typed Parquet store with dense ids."""
    from hmrec_cli import console
    from hmrec_cli.data.ingest import DataChecks, locate_sources
    from hmrec_cli.data.ingest import ingest as run_ingest

    explicit = {
        "transactions": transactions,
        "customers": customers,
        "articles": articles,
        "sample_submission": sample_submission,
    }
    mapped = {
        "--customer": customer,
        "--item": item,
        "--date": date,
        "--price": price,
        "--channel": channel,
        "--date-format": date_format,
        "--items": items,
        "--item-key": item_key,
        "--product": product,
        "--group": group,
        "--name": name,
    }
    log = _order_log(raw, mapped, explicit)
    sources = locate_sources(raw, explicit) if log is None else {}
    with console.stages(quiet or json) as stage:
        report = run_ingest(
            sources,
            data,
            force=force,
            on_stage=stage,
            checks=DataChecks(allow_gaps=allow_gaps, max_price=max_price),
            order_log=log,
        )
    if json:
        console.emit_json(
            {
                "store": str(report.store),
                "skipped": report.skipped,
                "rows": report.rows,
                "warnings": report.warnings,
                "seconds": report.seconds,
            }
        )
        return
    for message in report.warnings:
        console.warn(message)
    if report.skipped:
        console.out.print(f"{data} already holds this input (use --force to rebuild)")
        return
    rows = [[name, n] for name, n in report.rows.items()]
    console.show(f"Store written to {data} in {report.seconds:.1f} s", ["table", "rows"], rows)


def _order_log(raw: Optional[Path], mapped: dict, explicit: dict):
    """The order log `raw` names with the mapping options, or None for a Kaggle folder; mixing the two is refused."""
    from hmrec_cli.data.order_log import OrderLog
    from hmrec_cli.errors import InputError

    given = [flag for flag, value in mapped.items() if value is not None]
    if given and raw is not None and not raw.exists():
        raise InputError(f"{raw}: no such file")
    if raw is None or not raw.is_file():
        if given:
            raise InputError(
                f"{given[0]}: goes with an order log file as the argument, not {'a folder' if raw else 'no argument'}"
            )
        return None
    if missing := [flag for flag in ("--customer", "--item", "--date") if mapped[flag] is None]:
        raise InputError(
            f"{raw}: a file is read as an order log: name its columns with --customer, --item and --date (missing {', '.join(missing)})"
        )
    if other := next((f"--{k.replace('_', '-')}" for k, v in explicit.items() if v is not None), None):
        raise InputError(f"{other}: names a Kaggle table; an order log is one file")
    if mapped["--items"] is not None and not mapped["--items"].is_file():
        raise InputError(f"--items {mapped['--items']}: no such file")
    return OrderLog(
        raw,
        mapped["--customer"],
        mapped["--item"],
        mapped["--date"],
        mapped["--price"],
        mapped["--channel"],
        mapped["--date-format"],
        mapped["--items"],
        mapped["--item-key"],
        mapped["--product"],
        mapped["--group"],
        mapped["--name"],
    )


@data_app.command()
@reports_input_errors
def info(
    data: DataDir = Path("hm"),
    weeks: Annotated[int, typer.Option(help="How many recent weeks to list.", min=1)] = 8,
    json: Json = False,
) -> None:
    """Rows, customers, articles, date range and buyers per week of a store."""
    from hmrec_cli import console
    from hmrec_cli.data.store import Store, week_table

    store = Store.open(data)
    tx = store.transactions
    days = (store.last_date - store.first_date).days + 1
    summary = {
        "store": str(data),
        "fingerprint": store.fingerprint,
        "rows": tx.height,
        "customers": store.customers.height,
        "customers_without_metadata": int((~store.customers["known"]).sum()),
        "buyers": int(tx["customer"].n_unique()),
        "articles": store.articles.height,
        "articles_without_metadata": int((~store.articles["known"]).sum()),
        "first_date": store.first_date.isoformat(),
        "last_date": store.last_date.isoformat(),
        "days": days,
        "whole_weeks": days // 7,
        "order_log": store.order_log,
        "ingest_warnings": store.manifest.get("warnings", []),
        "recent_weeks": [
            {k: w[k] for k in ("week", "start", "rows", "buyers", "articles")} for w in week_table(store)[:weeks]
        ],  # as `data weeks` names them
    }
    if json:
        console.emit_json(summary)
        return
    overview = [
        [k.replace("_", " "), summary[k]]
        for k in (
            "rows",
            "customers",
            "customers_without_metadata",
            "buyers",
            "articles",
            "articles_without_metadata",
            "first_date",
            "last_date",
            "days",
            "whole_weeks",
            "fingerprint",
        )
    ]
    console.show(f"Store {data}", ["", "value"], overview)
    if store.order_log is not None:
        console.show(
            "Ingested from an order log (its columns)",
            ["", "column"],
            [[k.replace("_", " "), v] for k, v in store.order_log.items()],
        )
    recent = [[w["week"], w["start"], w["rows"], w["buyers"], w["articles"]] for w in summary["recent_weeks"]]
    console.show(
        "Recent weeks (week `last` ends on the last date)",
        ["week", "starts", "rows", "buyers", "articles sold"],
        recent,
    )
    for message in summary["ingest_warnings"]:
        console.warn(f"at ingest: {message}")


@data_app.command("weeks")
@reports_input_errors
def weeks_command(data: DataDir = Path("hm"), json: Json = False) -> None:
    """Every week of a store, newest first: the name --week takes, first and last day, rows, buyers,
    articles sold, and whether the synthetic oracle (the week's true top-100) is stored for it."""
    from hmrec_cli import console
    from hmrec_cli.data.store import Store, week_table

    store = Store.open(data)
    weeks = week_table(store)
    if json:
        console.emit_json({"store": str(data), "weeks": weeks})
        return
    rows = [
        [w["week"], w["start"], w["end"], w["rows"], w["buyers"], w["articles"], "yes" if w["oracle"] else ""]
        for w in weeks
    ]
    console.show(
        f"Weeks of {data} (--week takes the number or the start)",
        ["week", "starts", "ends", "rows", "buyers", "articles sold", "oracle"],
        rows,
    )
    partial = [w for w in weeks if w["days"] < 7]
    for w in partial:
        console.out.print(
            f"week {w['week']} holds only {w['days']} days of data (the data starts on {store.first_date})",
            highlight=False,
        )


class ScaleName(str, Enum):
    tiny = "tiny"
    small = "small"
    medium = "medium"
    full = "full"


@data_app.command()
@reports_input_errors
def synth(
    out: Annotated[Path, typer.Option(help="Folder to write the Kaggle-format files and oracle.parquet into.")],
    scale: Annotated[
        ScaleName,
        typer.Option(
            help="tiny: 2k customers, 1k articles, 20 weeks, twice as active (a toy); small: 50k customers, medium: 300k, full: 1.37M, each with the whole catalogue and calendar."
        ),
    ] = ScaleName.small,
    seed: Annotated[
        int,
        typer.Option(help=f"Random seed, 0 to {MAX_SEED}; equal seeds write identical files.", callback=checked_seed),
    ] = 0,
    activity: Annotated[
        Optional[float],
        typer.Option(
            help="Shopping rate relative to real customers (1.0); higher for a denser toy world. Default: the scale's.",
            min=0.01,
            show_default=False,
        ),
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Then ingest it to a temporary store and print `hmrec data report`.")
    ] = False,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Simulate an H&M-like shop and write its files, with the true top-100 of the last weeks' buyers."""
    import tempfile
    from dataclasses import replace

    from hmrec_cli import console
    from hmrec_cli.synth.world import SCALES, synthesize

    chosen = SCALES[scale.value] if activity is None else replace(SCALES[scale.value], activity=activity)
    with console.progress_bar(quiet or json) as progress:
        summary = synthesize(
            out, chosen, seed=seed, on_week=lambda w, n, rows: progress(f"simulating weeks ({rows:,} rows)", w + 1, n)
        )
    if json:
        console.emit_json(
            {
                "path": str(out),
                "scale": scale.value,
                "seed": seed,
                **dataclasses.asdict(summary),
                **(_report_facts(out) if report else {}),
            }
        )
        return
    console.out.print(
        f"wrote {out}: {summary.rows:,} transactions, {summary.customers:,} customers, {summary.articles:,} articles, "
        f"{summary.first_date} .. {summary.last_date}; oracle for {summary.oracle_rows:,} customer-weeks"
    )
    if report:
        from hmrec_cli.data.ingest import ingest as run_ingest
        from hmrec_cli.data.ingest import locate_sources

        with tempfile.TemporaryDirectory(prefix=".report-", dir=out) as tmp:
            run_ingest(locate_sources(out, {}), Path(tmp) / "hm")
            _print_report(Path(tmp) / "hm", json=False)


@data_app.command("report")
@reports_input_errors
def report_command(data: DataDir = Path("hm"), json: Json = False) -> None:
    """Compare a store with the real competition data: volumes, customers, repurchase, popularity, recency."""
    _print_report(data, json)


def _report_facts(raw: Path) -> dict:
    """`--report --json`: the facts of a synthesized folder, through a temporary store."""
    import tempfile

    from hmrec_cli.data.ingest import ingest as run_ingest
    from hmrec_cli.data.ingest import locate_sources
    from hmrec_cli.data.store import Store
    from hmrec_cli.reports.data_report import describe

    with tempfile.TemporaryDirectory(prefix=".report-", dir=raw) as tmp:
        run_ingest(locate_sources(raw, {}), Path(tmp) / "hm")
        return _facts_json(describe(Store.open(Path(tmp) / "hm")))


def _facts_json(facts) -> dict:
    return {
        "facts": [
            {"fact": f.name, "value": f.value, "real": f.real, "low": f.low, "high": f.high, "ok": f.ok, "note": f.note}
            for f in facts
        ]
    }


def _print_report(data: Path, json: bool) -> None:
    from hmrec_cli import console
    from hmrec_cli.data.store import Store
    from hmrec_cli.reports.data_report import FULL_SCALE_ONLY, REAL_CUSTOMERS, describe, recent_weeks

    store = Store.open(data)
    facts, weeks = describe(store), recent_weeks(store)
    if json:
        console.emit_json(
            {
                **_facts_json(facts),
                "weeks": [
                    {
                        "week": str(w.week or "last"),
                        "start": w.start,
                        "rows": w.rows,
                        "buyers": w.buyers,
                        "real_rows": w.real_rows,
                        "real_buyers": w.real_buyers,
                        "ok": w.ok,
                    }
                    for w in weeks
                ],
            }
        )
        return
    mark = {True: "[green]ok[/]", False: "[red]off[/]", None: ""}
    rows = [[f.name, f.real_text, f.text(f.value), f.note or mark[f.ok]] for f in facts]
    console.show(
        f"{data} beside the real H&M data (ok: within 25% of the real value)",
        ["fact", "real H&M", "this data", ""],
        rows,
    )
    passed = sum(1 for f in facts if f.ok)
    console.out.print(f"{passed} of {sum(1 for f in facts if f.ok is not None)} facts within 25%")
    if any(f.note == FULL_SCALE_ONLY for f in facts):
        console.out.print(
            f"{FULL_SCALE_ONLY}: counts per article and the largest values grow with the number of customers ({store.customers.height:,} here, {REAL_CUSTOMERS:,} in the real data)"
        )
    scaled = "" if store.customers.height >= REAL_CUSTOMERS else ", real scaled to this store's customers"
    table = [
        [
            w.week or "last",
            w.start,
            w.rows,
            f"{w.real_rows:,.0f}" if w.real_rows else "",
            w.buyers,
            f"{w.real_buyers:,.0f}" if w.real_buyers else "",
            mark[w.ok],
        ]
        for w in weeks
    ]
    console.show(
        f"Recent weeks beside the real ones (ok: within 15%{scaled})",
        ["week", "starts", "rows", "real rows", "buyers", "real buyers", ""],
        table,
    )


@data_app.command()
@reports_input_errors
def sample(
    data: DataDir = Path("hm"),
    customers: Annotated[
        float,
        typer.Option("--customers", help="Share of the customers to keep (0 < share <= 1); all their rows are kept."),
    ] = 0.05,
    seed: Annotated[
        int,
        typer.Option(help=f"Random seed, 0 to {MAX_SEED}; equal seeds draw the same customers.", callback=checked_seed),
    ] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the sampled store (replaced whole, or not at all).")] = Path(
        "hm-sample"
    ),
    json: Json = False,
) -> None:
    """Write a store of a random share of the customers (all their rows, every article, their oracle
    lists), the way people iterate on the competition's 31.8M rows; say what it does to popularity."""
    from hmrec_cli import console
    from hmrec_cli.data.customer_sample import sample_store

    refuse_inside(out, {"source store": data})
    report = sample_store(data, out, customers, seed)
    kept, total = report.customers
    if json:
        console.emit_json(
            {
                "store": str(out),
                "customers": kept,
                "source_customers": total,
                "rows": report.rows,
                "popularity": report.popularity,
            }
        )
        return
    console.show(
        f"Store written to {out}: {kept:,} of {total:,} customers",
        ["table", "rows"],
        [[k, v] for k, v in report.rows.items()],
    )
    console.show(
        "What sampling does to popularity counts (week `last`)",
        ["", "source", "sample"],
        [[p["measure"], p["source"], p["sample"]] for p in report.popularity],
    )
