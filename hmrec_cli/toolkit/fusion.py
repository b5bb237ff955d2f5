"""Weighted reciprocal-rank fusion of candidate sources, and its tuning on labelled weeks.

`merge` ranks by it; the learned rankers (`lgbm`, `din`) start from it (`prior`), so with few
purchases to learn from they stay at merge's order instead of drifting into noise. score = sum
over sources of weight / (c + rank + 1), rank 0 = the source's best; a source that did not
propose the article adds nothing. `tune` picks the weights and c by coordinate ascent on the
labelled weeks' MAP@12 (the caller passes only weeks before the one it ranks).

The gate a learned ranker keeps what it learned by (`learned_gain`, `rolling_weeks`): only when it
beats merge's order on labelled weeks it was not fitted on, by `min_gain_se` standard errors of the
per-buyer difference in AP@12, measured on buyers whose purchases did not choose the model: a
held-out week's buyers are split in two by a hash of the customer (`halves_with_a_hit`). DIN
picks its epoch on one half and is judged on the other; lgbm, whose boosting records both halves'
curves at once, judges each half by the number of trees the other half's curve picked
(cross-fitting: every buyer judges, none judges trees it chose). Measured on the buyers that picked
it, the gain of the best of many stopping points is biased upward. One week of a small shop has a
few hundred buyers with a purchase among their candidates: too few to tell a 10% gain from noise. So when the newest training week
alone does not show a clear gain and has fewer than `ROLLING_BELOW` such buyers, the earlier
training weeks validate too, each by a model fitted only on the weeks before it (rolling forward in
time, never back), and the decision pools every validated buyer's difference: 4 training weeks give
3 weeks of buyers. The model kept is still the one fitted on every week but the newest, so the
extra fits only decide, and only where they are cheap: a newest week with `ROLLING_BELOW` buyers
with a hit or more (full scale validates 20,000) decides alone, as does one that shows a clear gain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from hmrec_cli.metrics import ManyOrders
from hmrec_cli.plugin_api import RankingWeek

WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
C_GRID = (0.0, 2.0, 10.0, 60.0)
PASSES = 2  # merge's defaults, which the learned rankers' starting order uses too
TUNE_CUSTOMERS = 20_000
ROLLING_BELOW = 2_000  # buyers with a hit in the newest training week below which earlier weeks validate too


@dataclass(frozen=True)
class Fusion:
    weights: dict[str, float]
    c: float

    def score(self, week: RankingWeek) -> np.ndarray:
        return fuse(ranks(week.candidates, week.sources), [self.weights[s] for s in week.sources], self.c, week.k)

    def prior(self, week: RankingWeek) -> np.ndarray:
        """-log(1 + position) of each candidate in the fused order of its customer (ties share
        their mean position): a scale-free starting score, 0 for the best, a learned ranker adds to.
        Positions come from the float32 scores `merge` writes, so its ties are the prior's ties."""
        frame = week.candidates.select("customer", fused=pl.Series(self.score(week).astype(np.float32)))
        position = frame.select(pl.col("fused").rank("average", descending=True).over("customer"))["fused"]
        return -np.log(position.to_numpy().astype(np.float64))


def ap_differences(orders: ManyOrders, start: np.ndarray, learned: np.ndarray) -> np.ndarray:
    """Per buyer of a labelled week: AP@k of the `learned` scores minus AP@k of the `start` scores."""
    return orders.ap(learned) - orders.ap(start)


def learned_gain(differences: list[np.ndarray]) -> tuple[float, float]:
    """The mean of the per-buyer differences of one or more weeks, pooled, and its standard error."""
    diff = np.concatenate(differences) if differences else np.zeros(0)
    if diff.size < 2:
        return float(diff.sum()), float("inf")
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size))


def rolling_weeks(newest: np.ndarray, weeks: int, min_gain_se: float) -> list[int]:
    """Indexes (newest first) of the earlier training weeks that validate too, given the newest
    training week's per-buyer differences and the number of training weeks: each has at least one
    week before it to fit on; none when the newest week decides alone (enough buyers, or a clear gain)."""
    mean, se = learned_gain([newest])
    if newest.size >= ROLLING_BELOW or mean > min_gain_se * se:
        return []
    return list(range(weeks - 2, 0, -1))


def pooled_gain(
    newest: np.ndarray,
    train: list[RankingWeek],
    min_gain_se: float,
    earlier: Callable[[int], np.ndarray | None],
    on_progress: Callable[[str, int, int], None],
) -> tuple[bool, dict]:
    """The gate of a learned ranker: whether what it learned clearly beats merge's order, and the
    gain it decided on. `newest`: the per-buyer differences on the newest training week;
    `earlier(j)`: those on training week j from a model fitted on the weeks before it (None when
    it cannot be measured), asked only for the weeks `rolling_weeks` names."""
    differences = [newest]
    for j in rolling_weeks(newest, len(train), min_gain_se):  # too few buyers to decide on
        on_progress(f"rolling validation on {train[j].ctx.week.start}", len(differences), len(train) - 1)
        if (difference := earlier(j)) is not None:
            differences.append(difference)
    mean, se = learned_gain(differences)
    gain = {"map@12": mean, "stderr": se, "weeks": len(differences), "buyers": int(sum(d.size for d in differences))}
    return mean > min_gain_se * se, gain


def scored_top(
    week: RankingWeek, prior: np.ndarray, n: int, score: Callable[[RankingWeek, np.ndarray], np.ndarray]
) -> np.ndarray:
    """Scores for `week` where only each customer's first `n` candidates in merge's order go through
    a learned model: `score(week cut to those rows, their mask)`; the rest follow below them in merge's
    order. `prior` is `Fusion.prior` (-log(position), 0 = first), so a cut never splits a tie. Why:
    a full-scale submission scores ~410M rows, 3x fewer at n=100, and the tail rarely reaches the 12."""
    top = prior >= -np.log(n)
    scores = (prior - 1e3).astype(np.float32)  # below every scored row, in merge's order
    scores[top] = score(replace(week, candidates=week.candidates.filter(pl.Series(top))), top)
    return scores


def buyers_with_a_hit(week: RankingWeek, limit: int, rng) -> tuple[pl.DataFrame, float]:
    """The candidates of at most `limit` buyers with a purchase among them (drawn with `rng`), and
    the share of all the week's buyers that have one: any order gives the others AP 0, so the week's
    MAP@12 is the share times these buyers' MAP@12, for a fraction of the rows to score."""
    hit = _hit_customers(week.candidates)
    return _rows_of(week.candidates, hit, limit, rng), _share(week, hit.size)


def halves_with_a_hit(week: RankingWeek, limit: int, rng) -> tuple[tuple[pl.DataFrame, pl.DataFrame], float] | None:
    """`buyers_with_a_hit` in two halves of a fixed split of customers by a hash of their id (at
    most `limit` buyers each, half 0 drawn first), so one half can pick a model and the other
    measure it; the share is the whole week's, so either half's MAP@12 times it estimates the week's.
    None when either half has no such buyer: nothing to pick or to measure on."""
    hit = _hit_customers(week.candidates)
    half = _half_of(hit)
    if not (half == 0).any() or not (half == 1).any():
        return None
    rows = tuple(_rows_of(week.candidates, hit[half == h], limit, rng) for h in (0, 1))
    return rows, _share(week, hit.size)


def _rows_of(candidates: pl.DataFrame, hit: np.ndarray, limit: int, rng) -> pl.DataFrame:
    """The candidates of the customers `hit`, at most `limit` of them drawn with `rng`."""
    if hit.size > limit:
        hit = np.sort(rng.choice(hit, limit, replace=False))
    return candidates.filter(pl.col("customer").is_in(pl.Series(hit).implode()))


def _half_of(customers: np.ndarray) -> np.ndarray:
    """0 or 1 per customer id, from the splitmix64 finaliser of the id: fixed across runs and
    seeds, and unrelated to the order ids were given in (a parity of the id would follow it)."""
    z = customers.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return ((z ^ (z >> np.uint64(31))) & np.uint64(1)).astype(np.int8)


def _hit_customers(candidates: pl.DataFrame) -> np.ndarray:
    return candidates.filter(pl.col("label") > 0)["customer"].unique().sort().to_numpy()


def _share(week: RankingWeek, hits: int) -> float:
    """`hits` buyers as a share of the week's buyers (a sampled week lists only buyers with a hit)."""
    return hits / max(week.buyers or week.candidates["customer"].n_unique(), 1)


def ranks(candidates: pl.DataFrame, sources: tuple[str, ...]) -> np.ndarray:
    return candidates.select(f"{s}_rank" for s in sources).to_numpy().astype(np.float32)


def fuse(source_ranks: np.ndarray, weights: list[float], c: float, k: int) -> np.ndarray:
    """sum_s w_s / (c + rank_s + 1) over the sources that proposed the article (rank < k)."""
    contribution = np.where(source_ranks < k, 1.0 / (c + source_ranks + 1.0), 0.0)
    return contribution @ np.asarray(weights, dtype=np.float64)


def tune(
    train: list[RankingWeek],
    start: Fusion,
    seed: int,
    passes: int = PASSES,
    customers: int = TUNE_CUSTOMERS,
    on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
) -> tuple[Fusion, float]:
    """Coordinate ascent over each source's weight (WEIGHT_GRID) and c (C_GRID) from `start`;
    returns the best fusion and its training MAP@12, measured on at most `customers` buyers per
    week whose purchases are among the candidates (the others score 0 in any order)."""
    sources = train[0].sources
    rng = np.random.default_rng(seed)
    weeks = [_tuning_rows(week, customers, rng) for week in train]

    def figure(weights: dict[str, float], c: float) -> float:
        """Mean AP of the sampled buyers times their share of all the week's buyers, over the weeks."""
        return float(
            np.mean([share * orders.map(fuse(r, [weights[s] for s in sources], c, k)) for orders, r, share, k in weeks])
        )

    weights, c = dict(start.weights), start.c
    best = figure(weights, c)
    for p in range(passes):
        on_progress(f"tuning the fusion, pass {p + 1}/{passes}", p, passes)
        for source in sources:
            for value in WEIGHT_GRID:
                trial = {**weights, source: value}
                if trial != weights and any(trial.values()) and (got := figure(trial, c)) > best:
                    best, weights = got, trial
        for value in C_GRID:
            if value != c and (got := figure(weights, value)) > best:
                best, c = got, value
    return Fusion(weights, c), best


def _tuning_rows(week: RankingWeek, limit: int, rng) -> tuple[ManyOrders, np.ndarray, float, int]:
    """Candidates of at most `limit` buyers with a purchase among them (ready to score many
    orders), their ranks, and those buyers' share of all the week's buyers. A sampled week's
    `tuning` rows are whole lists; without them each sampled-away negative counts 1 / share."""
    if week.tuning is None:
        rows, share = buyers_with_a_hit(week, limit, rng)
        return ManyOrders(rows, negative_share=week.negative_share), ranks(rows, week.sources), share, week.k
    rows, _ = buyers_with_a_hit(replace(week, candidates=week.tuning), limit, rng)
    share = _share(week, _hit_customers(week.candidates).size)  # every buyer with a purchase among the candidates
    return ManyOrders(rows), ranks(rows, week.sources), share, week.k
