"""Scoring predictions against a week's purchases: one week or a rolling back-test.

Predictions come in the Kaggle submission format (`customer_id,prediction`, prediction = article
ids separated by spaces, with or without the leading zero). Customers unknown to the store are
counted and ignored; article ids unknown to the store take their slot and never match (as in
Kaggle's scorer), with a warning giving their count; a file with no known article id is refused.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hmrec_cli.data.kaggle_tables import SAMPLE_SUBMISSION, RawTable
from hmrec_cli.data.splits import Week, history, resolve_week, truth
from hmrec_cli.data.store import Store
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import K, average_precision, recall
from hmrec_cli.pipeline.manifests import RankingManifest


@dataclass(frozen=True)
class Predictions:
    """Long-format predictions read from a file, plus what could not be matched to the store."""

    frame: pl.DataFrame  # customer u32, article i64 (negative: unknown id), rank u32
    customers: int
    unknown_customers: int
    unknown_articles: int = 0  # predicted slots (of known customers) holding an id the store does not know

    def warnings(self, name: str) -> list[str]:
        """What was left unmatched in the predictions called `name`, one warning each (a score is still given)."""
        from hmrec_cli.console import plural

        out = []
        if n := self.unknown_customers:
            out.append(f"{name}: {plural(n, 'customer')} not in the store {'was' if n == 1 else 'were'} ignored")
        if n := self.unknown_articles:
            out.append(
                f"{name}: {plural(n, 'predicted article id')} not in the store; each takes its slot and never matches"
            )
        return out


@dataclass(frozen=True)
class WeekResult:
    """Per-customer scores of one week: columns customer, ap, recall, has_history, and oracle_ap
    (the synthetic oracle's AP, when the store has an oracle for the week)."""

    week: Week
    scores: pl.DataFrame
    predictions: Predictions

    @property
    def has_oracle(self) -> bool:
        return "oracle_ap" in self.scores.columns

    def summary(self) -> dict:
        s = self.scores
        with_history = s.filter("has_history")
        without = s.filter(~pl.col("has_history"))
        return {
            "week": self.week.start.isoformat(),
            "week_end": self.week.end.isoformat(),
            "label": self.week.label,
            f"map@{K}": _mean(s["ap"]),
            f"recall@{K}": _mean(s["recall"]),
            "scored_customers": s.height,
            "customers_with_history": with_history.height,
            f"map@{K}_with_history": _mean(with_history["ap"]),
            "customers_without_history": without.height,
            f"map@{K}_without_history": _mean(without["ap"]),
            "predicted_customers": self.predictions.customers,
            "unknown_customers_ignored": self.predictions.unknown_customers,
            **(_ceiling(s["ap"], s["oracle_ap"]) if self.has_oracle else {}),
        }


def read_submission(path: Path, store: Store) -> Predictions:
    """Read a Kaggle-format submission file into long form, mapped onto the store's ids."""
    with tempfile.TemporaryDirectory(prefix=".hmrec-read-") as scratch:
        raw = RawTable(path, SAMPLE_SUBMISSION, Path(scratch))
        if "prediction" not in raw.header:
            raise InputError(f"{path.name}: missing column 'prediction' (found: {', '.join(raw.header)})")
        df = raw.collect(raw.frame()).with_row_index("row", offset=1)
    return submission_predictions(df, store, path.name)


def submission_predictions(df: pl.DataFrame, store: Store, name: str) -> Predictions:
    """Kaggle-format rows (row, customer_id, prediction: text) in long form, mapped onto the store's
    ids; errors name `name` (a file's name) and the row."""
    if df["customer_id"].null_count():
        raise InputError(f"{name}, row {df.filter(pl.col('customer_id').is_null())['row'][0]}: missing customer_id")
    duplicated = df["customer_id"].is_duplicated()
    if duplicated.any():
        row = df.filter(duplicated)["row"][1]
        raise InputError(f"{name}, row {row}: customer_id listed twice")
    tokens = (
        df.select("row", "customer_id", token=pl.col("prediction").fill_null("").str.split(" "))
        .explode("token")
        .with_columns(rank=pl.int_range(pl.len(), dtype=pl.UInt32).over("row"))
        .filter(pl.col("token").str.strip_chars() != "")
    )
    if store.order_log is None:  # Kaggle ids are numbers, zero-padded or not
        tokens = tokens.with_columns(article_id=pl.col("token").str.strip_chars().cast(pl.Int64, strict=False))
        bad = tokens.filter(pl.col("article_id").is_null() | (pl.col("article_id") < 0))
        if bad.height:
            row, token = bad.select("row", "token").row(0)
            raise InputError(f"{name}, row {row}: {token!r} is not an article id")
        articles = store.articles.select(pl.col("article_id").cast(pl.Int64), pl.col("article").cast(pl.Int64))
    else:  # the shop's ids are text, matched exactly; an unknown one gets a number of its own (made negative below)
        tokens = tokens.with_columns(article_id=pl.col("token").rank("dense").cast(pl.Int64))
        articles = store.article_labels().select(token="label", article=pl.col("article").cast(pl.Int64))
    known = df.join(store.customers.select("customer_id", "customer"), on="customer_id", how="inner")
    on = "article_id" if store.order_log is None else "token"
    mapped = tokens.join(known.select("row", "customer"), on="row", how="inner").join(articles, on=on, how="left")
    unknown = mapped.filter(pl.col("article").is_null())
    if unknown.height and unknown.height == mapped.height:
        raise InputError(
            f"{name}: none of its article ids is in the store (row {unknown['row'][0]}: {unknown['token'][0]!r})"
        )
    # an unknown id keeps its slot as -1 - id: negative, so it never matches, even id 0 (-0 would be article 0)
    frame = mapped.select("customer", pl.coalesce("article", -1 - pl.col("article_id")).alias("article"), "rank")
    return Predictions(
        frame, customers=known.height, unknown_customers=df.height - known.height, unknown_articles=unknown.height
    )


def names_a_ranking(text: str) -> bool:
    """`din` or `din@KEY` (no such file here): a cached ranking rather than a submission file."""
    return not Path(text).exists() and "/" not in text and not text.endswith((".csv", ".gz", ".parquet"))


def scored_week(store: Store, spec: str) -> Week:
    """The week `spec` names (`resolve_week`), refused when it is after the data: nothing to score."""
    target = resolve_week(spec, store.first_date, store.last_date)
    if not target.has_truth:
        raise InputError(f"--week {spec}: the week {target} is after the data ends, so there is nothing to score")
    return target


def cached_predictions(cache_root: Path, name: str, week: Week, store: Store) -> tuple[Predictions, str]:
    """A cached ranking as predictions: `din` is the newest `din` ranking of this week and data,
    `din@KEY` one in particular. Returns the predictions and the entry's label."""
    from hmrec_cli.cache import Cache
    from hmrec_cli.console import reproduce
    from hmrec_cli.registry import discover, suggestion

    entry = Cache(cache_root).resolve("rankings", name, week.start.isoformat(), store.fingerprint, "--predictions")
    if entry is None:
        method = name.partition("@")[0]
        if method not in {p.name for p in discover("ranker")}:
            why = suggestion(method, "ranker")
            if method in {p.name for p in discover("retriever")}:
                why += f" (compare its candidates with `{reproduce('evaluate', '--week', str(week.start), '--candidates', method, data=store.path, cache=cache_root)}`)"
            raise InputError(f"--predictions {name}: not a file, and no ranker named {method!r}{why}")
        run = reproduce(
            "rank",
            "--ranker",
            method,
            "--week",
            str(week.start),
            *_settings_of_newest(Cache(cache_root), method, store),
            data=store.path,
            cache=cache_root,
        )
        raise InputError(f"--predictions {name}: no cached {name} ranking for the week {week} (run `{run}` first)")
    frame = entry.read().select("customer", pl.col("article").cast(pl.Int64), "rank")
    return Predictions(frame, customers=frame["customer"].n_unique(), unknown_customers=0), entry.label


def _settings_of_newest(cache, ranker: str, store: Store) -> list[str]:
    """`hmrec rank` words for a ranking like the newest `ranker` one on this data (another week's):
    its sources and their options, training weeks, k and seed; the simplest sources when there is none."""
    m = next(
        (
            m
            for e in cache.entries("rankings", ranker)
            if (m := RankingManifest.readable(e)) is not None and m.fingerprint == store.fingerprint and m.sources
        ),
        None,
    )
    if m is None:
        return ["--candidates", "popular,repurchase"]
    words = [
        "--candidates",
        ",".join(m.sources),
        *(w for s, given in m.source_options.items() for o in given for w in ("-o", f"{s}:{o}")),
    ]
    for flag, value, default in (
        ("--train-weeks", len(m.train_weeks) or None, 4),
        ("--k", m.k, 100),
        ("--seed", m.seed, 0),
    ):
        if value not in (None, default):
            words += [flag, str(value)]
    return words


def evaluate_week(store: Store, week: Week, predictions: Predictions) -> WeekResult:
    """Score `predictions` on `week`'s purchases, marking which scored customers had history."""
    tx = store.transactions
    target = truth(tx, week)
    seen = history(tx, week).select("customer").unique().with_columns(has_history=pl.lit(True))
    ap = average_precision(predictions.frame, target)
    hits = recall(predictions.frame, target, K).select("customer", "recall")
    scores = (
        ap.join(hits, on="customer")
        .join(seen, on="customer", how="left")
        .with_columns(pl.col("has_history").fill_null(False))
    )
    oracle = store.oracle(week.start)
    if oracle is not None:
        scores = scores.join(average_precision(oracle, target).rename({"ap": "oracle_ap"}), on="customer")
    return WeekResult(week, scores, predictions)


def flag_leak(summary: dict, reason: str | None) -> dict:
    """Add `leaked` and `leak_reason` to a week's summary: the predictions' provenance says they
    saw the week (`reason`), or, whatever the provenance, they beat the synthetic oracle."""
    share = summary.get("share_of_oracle", float("nan"))
    if reason is None and share > 1:
        reason = (
            f"MAP@12 is {100 * share:.0f}% of the synthetic oracle's, which no prediction made before the week reaches"
        )
    return {**summary, "leaked": reason is not None, "leak_reason": reason}


def pooled(results: list[WeekResult]) -> dict:
    """MAP@12 pooled over every customer-week, with the standard error of that mean.

    The error treats customer-weeks as independent; the same customer in two weeks is mildly
    correlated, so read it as a lower bound on the true uncertainty.
    """
    ap = pl.concat([r.scores["ap"] for r in results])
    n = ap.len()
    se = float(ap.std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
    ceiling = {}
    if all(r.has_oracle for r in results):
        ceiling = _ceiling(ap, pl.concat([r.scores["oracle_ap"] for r in results]))
    return {
        f"map@{K}": _mean(ap),
        "stderr": se,
        "customer_weeks": n,
        **ceiling,
        "weeks": [r.summary() for r in results],
    }


def _ceiling(ap: pl.Series, oracle_ap: pl.Series) -> dict:
    """The oracle's MAP@12 (the best any method can expect) and the result as a share of it."""
    best = _mean(oracle_ap)
    return {f"oracle_map@{K}": best, "share_of_oracle": _mean(ap) / best if best > 0 else float("nan")}


def _mean(values: pl.Series) -> float:
    """The mean, or NaN (null in --json) over no customers: a week without buyers has no score, not 0."""
    return float(values.mean()) if values.len() else math.nan
