"""hmrec from Python (a notebook): the pipeline the CLI runs, answering in polars DataFrames with the
shop's ids.

    from hmrec_cli import api

    shop = api.open("shop", cache="cache")
    shop.weeks()
    candidates = shop.recall("itemcf", week="last", k=100)
    top = shop.rank("merge", candidates=["popular", "itemcf"], week="last")
    shop.evaluate(top, week="last")["map@12"]
    shop.submit("submission.csv", candidates=["popular", "itemcf"], ranker="merge")

Each call builds the request its command builds (`hmrec recall`, `rank`, `evaluate --predictions`,
`submit`) and runs the same pipeline function, so the cache keys are the same: what one makes, the
other finds in the cache. Settings not given come from where the CLI takes them: HMREC_DATA,
HMREC_CACHE, HMREC_CONFIG, then the `[pipeline]` table of hmrec.toml, then the CLI's defaults.
Bad input raises `HmrecError` with the line the CLI prints after `hmrec: error:`; what the CLI
prints as a warning is a Python warning (`HmrecWarning`); progress bars only with `progress=True`.
A facade beside the CLI: it may import the data and pipeline layers, never `cli` (tests/test_layers.py).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from hmrec_cli import console, project_config
from hmrec_cli.cache import Cache
from hmrec_cli.data.splits import Week, resolve_week
from hmrec_cli.data.store import Store, week_table
from hmrec_cli.errors import InputError
from hmrec_cli.params import MAX_K, MAX_SEED
from hmrec_cli.pipeline import settings as pipeline_settings
from hmrec_cli.pipeline.plugin_params import named, resolve
from hmrec_cli.project_config import ProjectConfig

HmrecError = InputError  # the one exception bad input raises, in the CLI too (there: `hmrec: error: MESSAGE`, exit 2)

WeekSpec = str | int | date  # "last", "next", weeks back (0, 1, ...) or the week's first day


class HmrecWarning(UserWarning):
    """What the CLI prints on stderr as `warning: ...`."""


def open(
    data: str | Path | None = None,
    cache: str | Path | None = None,
    config: str | Path | None = None,
    progress: bool = False,
) -> Shop:  # noqa: A001 (api.open, as in the CLI's --data)
    """The store at `data` (a folder written by `hmrec data ingest`), caching under `cache`. Each of
    data, cache and config not given is taken as the CLI takes it: HMREC_DATA / HMREC_CACHE /
    HMREC_CONFIG, then the config's `[pipeline]` data and cache (config: ./hmrec.toml when it exists),
    then `hm` and `cache`. `progress`: show the CLI's progress bars on stderr."""
    given = config if config is not None else os.environ.get("HMREC_CONFIG") or None
    settings = project_config.load(None if given is None else Path(given))
    shop = Shop(
        Path(_first(data, os.environ.get("HMREC_DATA"), settings.pipeline.get("data"), "hm")),
        Path(_first(cache, os.environ.get("HMREC_CACHE"), settings.pipeline.get("cache"), "cache")),
        settings,
        progress,
    )
    shop.store  # noqa: B018 (a missing or damaged store is refused now, not at the first call)
    return shop


@dataclass
class Shop:
    """A store, a cache and a config, as `api.open` found them. Its tables are read once and kept
    until `hmrec data ingest` rebuilds the store (a new fingerprint)."""

    data: Path
    cache: Path
    config: ProjectConfig = ProjectConfig()
    progress: bool = False
    _store: Store | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        """The store (`hmrec_cli.data.store.Store`: transactions, customers, articles by internal index)."""
        fresh = Store.open(self.data)  # reads the manifest only
        if self._store is None or self._store.fingerprint != fresh.fingerprint:
            self._store = fresh
        return self._store

    def weeks(self) -> pl.DataFrame:
        """Every week of the store, newest first, as `hmrec data weeks --json` lists them: week (the
        name `week=` takes), start, end, days, rows, buyers, articles sold, oracle."""
        return pl.DataFrame(week_table(self.store)).with_columns(pl.col("start", "end").str.to_date())

    def recall(
        self,
        method: str,
        week: WeekSpec = "last",
        k: int | None = None,
        *,
        customers: str = "auto",
        drop_bought: str | None = None,
        seed: int = 0,
        device: str = "auto",
        resume: bool = False,
        force: bool = False,
        **params: object,
    ) -> pl.DataFrame:
        """`hmrec recall --method METHOD`: the retriever's top k candidates per customer for the week
        (fitted on the history before it, cached), as customer_id, article_id, score, rank (1 = best).
        `params` are the retriever's parameters (`-o key=value`); customers: auto, buyers, all or a
        file of customer ids; k and drop_bought default to the config's `[pipeline]`, else 100 and auto."""
        from hmrec_cli.pipeline.recall import Request, ordered, run

        store, k = self.store, self._setting("k", k, 100)
        _check_k(k)
        _check_seed(seed)
        request = Request(
            method,
            self._week(week),
            k,
            resolve(_options(params), self.config, (method,)),
            customers,
            pipeline_settings.drop_bought(self._setting("drop_bought", drop_bought, "auto")),
        )
        with self._running() as report:
            entry = run(
                store,
                Cache(self.cache),
                request,
                seed=seed,
                force=force,
                on_progress=report,
                device=device,
                resume=resume,
            )
        return self._with_ids(ordered(entry.read()))

    def rank(
        self,
        ranker: str | None = None,
        candidates: str | Sequence[str] | None = None,
        week: WeekSpec = "last",
        train_weeks: int | str | None = None,
        k: int | None = None,
        *,
        customers: str = "auto",
        drop_bought: str | None = None,
        seed: int = 0,
        device: str = "auto",
        resume: bool = False,
        force: bool = False,
        **params: object,
    ) -> pl.DataFrame:
        """`hmrec rank`: fit the ranker on labelled candidates of `train_weeks` earlier weeks and rank
        the week's union of `candidates` (names, a comma-separated text, or "auto"); the top 12 per
        customer as customer_id, article_id, score, rank (1 = best). `params`: the ranker's parameters,
        `**{"itemcf:window_days": 14}` a source's. Not given: the config's `[pipeline]` values, else din,
        the four default sources, 4 weeks, k 100, drop_bought auto."""
        from hmrec_cli.pipeline.ranking import rank

        store = self.store
        request = self._rank_request(ranker, candidates, week, train_weeks, k, customers, drop_bought, seed, params)
        with self._running() as report:
            entry = rank(
                store,
                Cache(self.cache),
                request,
                seed=seed,
                device=device,
                resume=resume,
                force=force,
                on_progress=report,
            )
        return self._with_ids(entry.read().sort("customer", "rank"))

    def evaluate(self, predictions: pl.DataFrame | str | Path, week: WeekSpec = "last") -> dict:
        """`hmrec evaluate --predictions ... --json`: MAP@12 and recall@12 of the week's buyers, by
        history, the oracle's ceiling on a synthetic world, and whether the predictions saw the week
        (`leaked`). `predictions`: a frame from `rank` (customer_id, article_id, in rank or score order)
        or in the Kaggle format (customer_id, prediction), a submission file, or a cached ranking's name
        (`din`, `din@KEY`)."""
        from hmrec_cli.data import provenance
        from hmrec_cli.pipeline.evaluation import (
            cached_predictions,
            evaluate_week,
            flag_leak,
            names_a_ranking,
            read_submission,
            scored_week,
            submission_predictions,
        )

        store = self.store
        target = scored_week(store, _week_text(week))
        leak = None
        with self._running():
            if isinstance(predictions, pl.DataFrame):
                name = "predictions frame"
                found = submission_predictions(_as_submission(predictions, name), store, name)
            elif names_a_ranking(str(predictions)):
                found, name = cached_predictions(self.cache, str(predictions), target, store)
            else:
                path = Path(predictions)
                if not path.is_file():
                    raise InputError(f"{path}: no such file (predictions for the week {target})")
                found, name = read_submission(path, store), path.name
                leak = provenance.leak(provenance.read(path), target.start)
            summary = flag_leak(evaluate_week(store, target, found).summary(), leak)
            for message in found.warnings(name):
                console.warn(message)
            if summary["leaked"]:
                console.warn(
                    f"{name} on the week from {summary['week']}: {summary['leak_reason']}; the score means nothing"
                )
        return summary

    def submit(
        self,
        out: str | Path,
        candidates: str | Sequence[str] | None = None,
        ranker: str | None = None,
        train_weeks: int | str | None = None,
        k: int | None = None,
        *,
        drop_bought: str | None = None,
        seed: int = 0,
        device: str = "auto",
        resume: bool = False,
        **params: object,
    ) -> Path:
        """`hmrec submit --out OUT`: fit on all data, write a validated 12-article Kaggle submission for
        week next (customer_id in the shop's ids) and return its path. Without a ranker each customer
        gets the sources' lists in the order named; not given: the config's `[pipeline]` values, else
        the four default sources, no ranker, 4 training weeks, k 100."""
        from hmrec_cli.pipeline.submission import RankWith, build_submission

        _check_seed(seed)
        ranker, out = self._setting("ranker", ranker, None), Path(out)
        methods = self._sources(candidates)
        train_weeks, drop_bought, options = (
            pipeline_settings.train_weeks(self._setting("train_weeks", train_weeks, 4)),
            pipeline_settings.drop_bought(self._setting("drop_bought", drop_bought, "auto")),
            list(_options(params)),
        )
        k = self._setting("k", k, RankWith.k)
        _check_k(k)
        command = {
            "name": "hmrec_cli.api submit",
            "candidates": methods if isinstance(methods, pipeline_settings.Auto) else ",".join(methods),
            "ranker": ranker,
            "train_weeks": train_weeks,
            "drop_bought": drop_bought,
            "data": str(self.data),
            "option": options,
            "seed": seed,
        }
        rank_with = RankWith(ranker, train_weeks, k) if ranker else None
        plugins = resolve(options, self.config, named(self.store, methods), ranker, train_weeks)
        with self._running() as report:
            build_submission(
                self.data,
                self.cache,
                methods,
                plugins,
                seed,
                out,
                report,
                rank_with,
                command,
                device=device,
                resume=resume,
                drop_bought=drop_bought,
            )
        return out

    def recommend(
        self,
        customers: str | Sequence[str],
        ranker: str | None = None,
        week: WeekSpec = "next",
        *,
        candidates: str | Sequence[str] | None = None,
        train_weeks: int | str | None = None,
        k: int | None = None,
        drop_bought: str | None = None,
        seed: int = 0,
        device: str = "auto",
        **params: object,
    ):
        """`hmrec recommend`: the customers' 12 (the shop's customer ids) from the newest cached ranking
        of `ranker` for the week, ranked now when none holds them. Returns the pipeline's
        `Recommendations`: `items` (customer_id, rank, article_id, name, group, score, sources),
        `purchases` (their recent ones) and, for DIN, `reasons` (the purchases its attention weighs most)."""
        from hmrec_cli.pipeline.recommend import recommend

        ids = [customers] if isinstance(customers, str) else list(customers)
        request = self._rank_request(ranker, candidates, week, train_weeks, k, "auto", drop_bought, seed, params)
        with self._running() as report:
            return recommend(self.store, Cache(self.cache), ids, request, seed=seed, device=device, on_progress=report)

    def _rank_request(self, ranker, candidates, week, train_weeks, k, customers, drop_bought, seed, params):
        """The `RankRequest` `hmrec rank` builds from the same options (config, then defaults)."""
        from hmrec_cli.pipeline.ranking import RankRequest

        k = self._setting("k", k, 100)
        _check_k(k)
        _check_seed(seed)
        ranker, sources = self._setting("ranker", ranker, "din"), self._sources(candidates)
        train_weeks = pipeline_settings.train_weeks(self._setting("train_weeks", train_weeks, 4))
        return RankRequest(
            ranker,
            sources,
            self._week(week),
            train_weeks,
            k,
            resolve(_options(params), self.config, named(self.store, sources), ranker, train_weeks),
            customers,
            pipeline_settings.drop_bought(self._setting("drop_bought", drop_bought, "auto")),
        )

    def _setting(self, name: str, given: object, default: object) -> object:
        """An argument as given, else the config's `[pipeline]` value, else the CLI's default."""
        return _first(given, self.config.pipeline.get(name), default)

    def _sources(self, candidates: str | Sequence[str] | None) -> pipeline_settings.Sources:
        """The retrievers named (a list, or comma-separated as `--candidates` takes them), else the
        config's, else the four sources `auto` starts from (as `hmrec rank` and `submit` default)."""
        from hmrec_cli.pipeline.source_choice import default_sources

        given = candidates if candidates is None or isinstance(candidates, str) else ",".join(candidates)
        text = self._setting("candidates", given, ",".join(default_sources(self.store)))
        return pipeline_settings.sources(text)

    def _week(self, week: WeekSpec) -> Week:
        store = self.store
        return resolve_week(_week_text(week), store.first_date, store.last_date)

    def _with_ids(self, frame: pl.DataFrame) -> pl.DataFrame:
        """customer, article, score, rank (0 = best) as the shop's customer_id, article_id, score, rank (1 = best);
        an order log's article_id is the shop's own item id (text), a Kaggle store's its article number."""
        store = self.store
        if store.order_log is not None:
            ids = store.article_labels().rename({"label": "article_id"})
        else:
            ids = store.articles.select("article", "article_id")
        return (
            frame.join(
                store.customers.select("customer", "customer_id"), on="customer", how="left", maintain_order="left"
            )
            .join(ids, on="article", how="left", maintain_order="left")
            .select("customer_id", "article_id", "score", rank=pl.col("rank") + 1)
        )

    @contextmanager
    def _running(self) -> Iterator:
        """The CLI's progress callback (a bar only with `progress`), and its warnings as HmrecWarning."""
        with console.warnings_to(_python_warning), console.progress_bar(not self.progress) as report:
            yield report


def _first(*values: object) -> object:
    """The first value that is not None (the last one when all are)."""
    return next((v for v in values if v is not None), values[-1])


def _python_warning(message: str) -> None:
    warnings.warn(message, HmrecWarning, stacklevel=3)


def _week_text(week: WeekSpec) -> str:
    return week.isoformat() if isinstance(week, date) else str(week)


def _options(params: dict[str, object]) -> tuple[str, ...]:
    """Keyword parameters as the `-o key=value` texts the CLI passes on (booleans as true/false), so
    the plugins parse, check and key them the same way."""
    return tuple(f"{key}={str(value).lower() if isinstance(value, bool) else value}" for key, value in params.items())


def _check_k(k: object) -> None:
    """`--k` as the CLI checks it (an option from 1 to MAX_K)."""
    if not isinstance(k, int) or isinstance(k, bool):
        raise InputError(f"--k {k!r}: not a whole number")
    if not 1 <= k <= MAX_K:
        raise InputError(f"--k {k}: must be {'1 or more' if k < 1 else f'{MAX_K} or less'}")


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"--seed {seed}: expected 0 to {MAX_SEED}")


def _as_submission(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Predictions as the rows of a Kaggle file (row, customer_id, prediction) for
    `submission_predictions`: a frame already in that format, or one row per predicted article
    (customer_id, article_id) in the order of `rank` (1 = best), else of `score`, else as listed."""
    columns = set(frame.columns)
    if {"customer_id", "prediction"} <= columns:
        rows = frame.select(pl.col("customer_id", "prediction").cast(pl.String))
    elif {"customer_id", "article_id"} <= columns:
        order = ["rank"] if "rank" in columns else ["score"] if "score" in columns else []
        rows = (
            frame.with_row_index("listed")
            .sort(
                ["customer_id", *order, "listed"],
                descending=[False, *(o == "score" for o in order), False],
                maintain_order=True,
            )
            .group_by("customer_id", maintain_order=True)
            .agg(prediction=pl.col("article_id").cast(pl.String).str.join(" "))
            .select(pl.col("customer_id").cast(pl.String), "prediction")
        )
    else:
        raise InputError(
            f"{name}: expected columns customer_id and article_id (one row per predicted article) or customer_id and prediction "
            f"(the Kaggle format); found: {', '.join(frame.columns) or 'none'}"
        )
    return rows.with_row_index("row", offset=1)
