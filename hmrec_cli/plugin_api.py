"""What a plugin implements and what it is given: the contract between hmrec and its plugins.

A retriever proposes candidate articles for customers. It is a class registered under the entry
point group `hmrec.retrievers` with:

- `name`, `version`, `summary` (one line) as class attributes;
- `Params`: a frozen dataclass whose fields are declared with `hmrec_cli.params.param(default,
  doc, valid=..., search=...)`: a one-line doc, the allowed values (`Between(1, 1000)`,
  `OneOf("exact", "annoy")`, `Widths()`, ...) and where `hmrec tune` searches (`LogUniform(7, 182)`,
  `Choice(False, True)`, ...). The CLI lists them (`hmrec plugins show NAME`), parses
  `-o key=value` into them and refuses a value outside its declared `valid` (`check_params`); the
  registry refuses a plugin whose default or search reaches outside `valid` (`params.problems`);
- `fit(ctx, run)`: learn from `ctx.history`, which holds only rows strictly before `ctx.week` starts;
  `run` (RunSettings) gives the seed, the device, a checkpoint path, the resume flag and a progress
  callback, as rankers get them. A plugin whose result depends on the device kind (a torch model:
  kernels differ between CPU and CUDA), retriever or ranker, sets the class attribute `uses_device = True`, which puts
  the device kind into its cache key; the others are cached the same wherever they run;
- `retrieve(customers, k)`: for a Series of customer indexes, at most `k` articles each as a frame
  `customer (u32), article (u32), score (f32)`, distinct per customer, higher score = better.

Customers with no history must still get candidates (fall back to something global).

A ranker re-orders the union of several candidate sets. It is registered under `hmrec.rankers`
with the same `name`, `version`, `summary` and `Params`, and:

- `fit(train, run)`: learn from `train`, a list of `RankingWeek`s (oldest first), each holding one
  earlier week's labelled candidates and a Context whose history is cut at that week's start;
  returns a small dict (training log) for the manifest;
- `score(week)`: one float per row of `week.candidates` (higher = better), for a week it did not
  see. It is called once per customer chunk, so it must not assume it sees every customer.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hmrec_cli.data.splits import Week
from hmrec_cli.errors import InputError
from hmrec_cli.params import declared

CANDIDATE_SCHEMA = pl.Schema({"customer": pl.UInt32, "article": pl.UInt32, "score": pl.Float32})


@dataclass(frozen=True)
class Context:
    """Everything a plugin may see when fitting for `week`: history is already cut at its start."""

    history: pl.DataFrame  # t_dat, customer, article, price, channel; rows before week.start only
    articles: pl.DataFrame
    customers: pl.DataFrame
    week: Week


@dataclass(frozen=True)
class RunSettings:
    """How a plugin should train: seed, device (auto|cpu|cuda), where to keep its checkpoint,
    whether to resume from it, and a progress callback (stage, done, total)."""

    seed: int = 0
    device: str = "auto"
    checkpoint: Path | None = None
    resume: bool = False
    on_progress: typing.Callable[[str, int, int], None] = lambda stage, done, total: None

    def __post_init__(self) -> None:
        check_device(self.device)


def check_device(spec: str) -> str:
    """Refuse a `--device` other than auto, cpu, cuda or cuda:N (without importing torch)."""
    text = spec.strip().lower()
    if text not in ("auto", "cpu", "cuda") and not (text.startswith("cuda:") and text[5:].isdigit()):
        raise InputError(f"--device {spec}: expected auto, cpu or cuda")
    return text


@dataclass(frozen=True)
class NoParams:
    """A plugin without parameters."""


class Plugin(ABC):
    """What every plugin declares: a name, a version (part of every cache key), a one-line
    summary and its parameter dataclass; it is built from parsed parameters."""

    name: typing.ClassVar[str]
    version: typing.ClassVar[str] = "1"
    summary: typing.ClassVar[str] = ""
    Params: typing.ClassVar[type] = NoParams
    uses_device: typing.ClassVar[bool] = False  # True: results depend on the device kind (part of the cache key)

    def __init__(self, params=None):
        self.params = check_params(params, self.name) if params is not None else self.Params()


class Retriever(Plugin):
    needs_products: bool = (
        False  # groups articles by product: not offered on a store without products (`Store.has_products`)
    )

    @abstractmethod
    def fit(self, ctx: Context, run: RunSettings) -> dict | None:
        """Learn from ctx.history (rows before ctx.week), seeded by run.seed; a trained model may
        return its training log (kept in the candidate set's manifest)."""

    @abstractmethod
    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        """At most k distinct articles per customer: columns customer, article, score."""


@dataclass(frozen=True)
class RankingWeek:
    """One week's union of candidate sets, as a ranker sees it.

    `candidates`: customer (u32), article (u32), and per source `<source>_score` (f32; 0 when the
    source did not propose the article) and `<source>_rank` (u16, 0 = its best; `k` when it did
    not propose it), sorted by customer then article; on training weeks also `label` (u8: 1 when
    the customer bought the article that week) and `bought` (u16: how many distinct articles the
    customer bought that week, so `metrics.map_of_scores` gives the exact MAP@12).
    `ctx.history` ends before the week starts.

    `hmrec rank` builds training weeks in customer chunks and hands them over sampled, so they
    fit in memory at any scale. The older weeks list only the customers with a purchase among
    their candidates (the others teach a ranker nothing), out of `buyers` buyers in all, with
    every positive and a `negative_share` of their negatives (the ranker's own `negative_share`
    parameter; a ranker that samples divides its share by this one rather than sampling twice).
    The newest week keeps every row of at most `ranking.POLICY.newest_week_customers` of its buyers,
    drawn with the seed (`buyers` None: the listed customers are a plain sample of the buyers).
    A sampled week also carries `tuning`: every row (customer, article, label, bought and each
    source's rank) of up to `ranking.POLICY.tune_customers` of its listed customers, drawn with the seed,
    so merge's order is tuned on whole lists, exactly as `merge` tunes it on unsampled weeks.
    """

    ctx: Context
    candidates: pl.DataFrame
    sources: tuple[str, ...]
    k: int
    negative_share: float = 1.0
    buyers: int | None = None
    tuning: pl.DataFrame | None = None


class Ranker(Plugin):
    @abstractmethod
    def fit(self, train: list[RankingWeek], run: RunSettings) -> dict:
        """Learn from labelled earlier weeks (oldest first); return a training log."""

    @abstractmethod
    def score(self, week: RankingWeek) -> np.ndarray:
        """One score per row of week.candidates, higher = better."""

    def merge_scores(self, week: RankingWeek) -> np.ndarray | None:
        """`merge`'s scores for `week` when this ranker tuned merge's default fusion on the same
        training weeks (lgbm and DIN start from it), else None: spares `rank` fitting merge again
        for its newest-training-week comparison."""
        return None

    def restore(self, week: RankingWeek, log: dict, checkpoint: Path) -> bool:
        """Rebuild the model `fit` left from its training `log` and `checkpoint` (the file
        `RunSettings.checkpoint` named), ready to score `week`; False for a ranker that keeps none."""
        return False

    def history_weights(self, week: RankingWeek) -> pl.DataFrame | None:
        """Why each candidate of `week` scored as it did, from a ranker that weighs the customer's
        purchases: per candidate row and history position (0 = most recent) the columns customer,
        article, position, history_article, age_days, weight. None for a ranker that does not
        (or a fitted model whose scores do not use them)."""
        return None


def param_docs(params_type: type) -> list[dict]:
    """Name, type, default, allowed values and one-line doc of each parameter, for `hmrec plugins show`."""
    hints = typing.get_type_hints(params_type)
    docs = []
    for f in dataclasses.fields(params_type):
        spec = declared(f)
        docs.append(
            {
                "name": f.name,
                "type": getattr(hints[f.name], "__name__", str(hints[f.name])),
                "default": f.default,
                "valid": spec.valid.describe() if spec.valid else "",
                "range": spec.search.describe() if spec.search else "",
                "doc": spec.doc,
            }
        )
    return docs


def parse_params(params_type: type, options: list[str], plugin: str, base: dict | None = None):
    """Build the parameter dataclass from `-o key=value` strings, converting each to its type and
    checking it against the field's declared `valid` values (see `check_params`); `base` holds
    values (already typed) that the options override: the project config's."""
    return check_params(params_type(**{**(base or {}), **option_values(params_type, options, plugin)}), plugin)


def option_values(params_type: type, options: list[str], plugin: str) -> dict:
    """The typed values of `-o key=value` strings, by parameter name (the last one of a name wins)."""
    hints = typing.get_type_hints(params_type)
    names = {f.name for f in dataclasses.fields(params_type)}
    values: dict[str, object] = {}
    for option in options:
        key, sep, text = option.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise InputError(f"-o {option!r}: expected key=value")
        if key not in names:
            known = ", ".join(sorted(names)) or "none"
            close = difflib.get_close_matches(key, sorted(names), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise InputError(f"-o {key}: {plugin} has no such parameter{hint} (parameters: {known})")
        values[key] = _convert(hints[key], text.strip(), key)
    return values


def check_params(params, plugin: str):
    """Refuse a value its field's declared `valid` does not allow, naming the parameter and what is
    allowed; floats must also be finite. Returns `params`."""
    for f in dataclasses.fields(params):
        value, valid = getattr(params, f.name), declared(f).valid
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"-o {f.name}={value}: {plugin} needs a finite number")
        if valid is not None and not valid.allows(value):
            raise InputError(f"-o {f.name}={value}: {plugin}'s {f.name} must be {valid.describe()}")
    return params


def _convert(kind: type, text: str, key: str):
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        return kind(text)
    except ValueError:
        raise InputError(f"-o {key}={text}: expected {KIND_WORDS.get(kind, kind.__name__)}") from None


KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a text"}  # for people, not `int`


def check_candidates(frame: pl.DataFrame, plugin: str, k: int, params=None) -> pl.DataFrame:
    """Assert the retriever contract at the boundary: schema, at most k per customer, distinct;
    scores that are not finite (after the cast to f32) are the parameters' doing, bad input."""
    missing = [c for c in CANDIDATE_SCHEMA if c not in frame.columns]
    if missing:
        raise RuntimeError(f"retriever {plugin} returned no column {missing[0]!r}")
    frame = frame.select(pl.col(c).cast(t) for c, t in CANDIDATE_SCHEMA.items())
    not_finite = frame.select((~pl.col("score").is_finite()).sum()).item()
    if not_finite:
        raise InputError(not_finite_scores("retriever", plugin, params, not_finite, frame.height))
    per_customer = frame.group_by("customer").len()["len"]
    if per_customer.len() and per_customer.max() > k:
        raise RuntimeError(f"retriever {plugin} returned {per_customer.max()} candidates for one customer (k = {k})")
    pair = pl.col("customer").cast(pl.UInt64) * 2**32 + pl.col("article").cast(
        pl.UInt64
    )  # one hashable key per pair: fast
    if frame.select(pair.n_unique()).item() < frame.height:
        raise RuntimeError(f"retriever {plugin} returned an article twice for one customer")
    return frame


def check_scores(scores: np.ndarray, rows: int, plugin: str, params=None) -> np.ndarray:
    """Assert the ranker contract at the boundary: one finite score per candidate row."""
    if scores.shape != (rows,):
        raise RuntimeError(f"ranker {plugin} returned {scores.shape} scores for {rows} candidates")
    not_finite = int(np.count_nonzero(~np.isfinite(scores)))
    if not_finite:
        raise InputError(not_finite_scores("ranker", plugin, params, not_finite, rows))
    return scores


def not_finite_scores(kind: str, plugin: str, params, count: int, rows: int) -> str:
    """Why a run stops on NaN or infinite scores, naming the parameters that differ from the
    defaults (the likely cause: an extreme value, e.g. a half life of 1e-320 days)."""
    changed = (
        {f.name: getattr(params, f.name) for f in dataclasses.fields(params) if getattr(params, f.name) != f.default}
        if params is not None
        else {}
    )
    given = [f"{name}={str(value).lower() if isinstance(value, bool) else value}" for name, value in changed.items()]
    cause = f" with {', '.join(given)}" if given else ""
    return f"{kind} {plugin}{cause} gave {count:,} of {rows:,} scores that are not finite (NaN or infinite); nothing was cached"


# Helpers every retriever may use; vectorised over customers.


def recency_weight(week: Week, half_life_days: float) -> pl.Expr:
    """Per history row, 0.5 ** (days before the week / half life); 1 when half life is 0."""
    if half_life_days <= 0:
        return pl.lit(1.0)
    days = (pl.lit(week.start) - pl.col("t_dat")).dt.total_days()
    return 0.5 ** ((days - 1) / half_life_days)


def top_k(frame: pl.DataFrame, k: int, by: str = "customer") -> pl.DataFrame:
    """The k highest-scoring rows per `by` (ties broken by article id), best first."""
    return (
        frame.sort([by, "score", "article"], descending=[False, True, False]).group_by(by, maintain_order=True).head(k)
    )


def recent_popularity(history: pl.DataFrame, week: Week, days: int = 7) -> pl.DataFrame:
    """Articles sold in the `days` before the week with their share of sales, best first."""
    from hmrec_cli.data.splits import recent_history

    recent = recent_history(history, week, days)
    if recent.height == 0:  # a quiet week: fall back to the whole history
        recent = history
    return (
        recent.group_by("article")
        .agg(score=pl.len().cast(pl.Float32))
        .with_columns(pl.col("score") / pl.col("score").sum())
        .sort(["score", "article"], descending=[True, False])
    )


def fill_cold(candidates: pl.DataFrame, customers: pl.Series, popular: pl.DataFrame, k: int) -> pl.DataFrame:
    """Customers without any candidate get the popular articles, scored below every real score
    (scores of the fill are the popularity share times 1e-6)."""
    cold = customers.filter(~customers.is_in(candidates["customer"].unique().implode()))
    if cold.len() == 0:
        return candidates
    fill = pl.DataFrame({"customer": cold.cast(pl.UInt32)}).join(
        popular.head(k).select(pl.col("article").cast(pl.UInt32), (pl.col("score") * 1e-6).cast(pl.Float32)),
        how="cross",
    )
    return pl.concat([candidates.select(CANDIDATE_SCHEMA.names()), fill.select(CANDIDATE_SCHEMA.names())])
