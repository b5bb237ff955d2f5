"""DIN learns what only the history-candidate interaction reveals, and resumes exactly."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hmrec_plugins.din import DINParams, DINRanker

from hmrec_cli.data.splits import Week
from hmrec_cli.metrics import map_of_scores
from hmrec_cli.plugin_api import Context, RankingWeek, RunSettings

ARTICLES, CUSTOMERS_PER_WEEK = 40, 300


def _world():
    """Two taste clusters (articles 0-19 and 20-39) that no side feature reveals. Every customer
    bought 5 articles of the first half of one cluster; each week they get two candidates from the
    second halves, one per cluster, with uninformative source ranks, and buy the one from their
    cluster. Only comparing the candidate with the history tells which (never a repeat purchase,
    so no count feature gives it away); a model blind to the history can only guess."""
    rng = np.random.default_rng(0)
    articles = pl.DataFrame(
        {
            "article": np.arange(ARTICLES, dtype=np.uint32),
            "article_id": np.arange(ARTICLES, dtype=np.uint32) + 100,
            "product_code": np.arange(ARTICLES, dtype=np.int32),
            **{
                f: np.zeros(ARTICLES, dtype=np.int32)
                for f in ("product_type_no", "colour_group_code", "department_no", "garment_group_no")
            },
            "product_group_name": ["Garment"] * ARTICLES,
            "index_group_name": ["Ladieswear"] * ARTICLES,
        }
    )
    n = 3 * CUSTOMERS_PER_WEEK
    customers = pl.DataFrame(
        {
            "customer": np.arange(n, dtype=np.uint32),
            "age": np.full(n, 30, dtype=np.uint8),
            "club_member_status": ["ACTIVE"] * n,
            "fashion_news_frequency": ["NONE"] * n,
            "FN": [True] * n,
            "Active": [True] * n,
        }
    )
    taste = rng.integers(0, 2, n)
    starts = [date(2020, 3, 4) + timedelta(days=7 * w) for w in range(3)]
    rows = []
    for c in range(n):
        week_start = starts[c // CUSTOMERS_PER_WEEK]
        for _ in range(5):
            rows.append(
                (week_start - timedelta(days=int(rng.integers(1, 60))), c, int(taste[c] * 20 + rng.integers(0, 10)))
            )
    history = (
        pl.DataFrame(rows, schema={"t_dat": pl.Date, "customer": pl.UInt32, "article": pl.UInt32}, orient="row")
        .with_columns(price=pl.lit(0.03, pl.Float32), channel=pl.lit(2, pl.UInt8))
        .sort("t_dat")
    )
    weeks = []
    for w, start in enumerate(starts):
        who = np.arange(w * CUSTOMERS_PER_WEEK, (w + 1) * CUSTOMERS_PER_WEEK)
        same = taste[who] * 20 + rng.integers(10, 20, who.size)
        other = (1 - taste[who]) * 20 + rng.integers(10, 20, who.size)
        first = rng.integers(0, 2, who.size)
        cands = pl.DataFrame(
            {
                "customer": np.repeat(who, 2).astype(np.uint32),
                "article": np.stack([same, other], 1).ravel().astype(np.uint32),
                "src_score": np.ones(2 * who.size, dtype=np.float32),
                "src_rank": np.stack([first, 1 - first], 1).ravel().astype(np.uint16),
                "label": np.tile([1, 0], who.size).astype(np.uint8),
                "bought": np.ones(2 * who.size, dtype=np.uint16),
            }
        ).sort("customer", "article")
        week = Week(start, start.isoformat())
        ctx = Context(
            history=history.filter(pl.col("t_dat") < start), articles=articles, customers=customers, week=week
        )
        weeks.append(RankingWeek(ctx, cands, ("src",), 2))
    return weeks


TOY = dict(
    epochs=25,
    patience=25,
    batch_size=64,
    negative_share=1.0,
    learning_rate=0.01,
    history_length=5,
    embedding_size=8,
    side_embedding_size=2,
    hidden="16",
    valid_customers=1000,
)


@pytest.fixture(scope="module")
def toy():
    return _world()


def _map(history: str, weeks) -> float:
    ranker = DINRanker(DINParams(history=history, **TOY))
    ranker.fit(weeks[:2], RunSettings(seed=0, device="cpu"))
    return map_of_scores(weeks[2].candidates, ranker.score(weeks[2]))


def test_din_learns_the_history_candidate_interaction_a_blind_model_cannot(toy) -> None:
    attention, blind = _map("attention", toy), _map("none", toy)
    assert attention > 0.95
    assert blind < 0.85  # guessing between two candidates: 0.75 expected
    assert attention - blind > 0.15


def test_resume_reproduces_an_uninterrupted_run(toy, tmp_path: Path) -> None:
    params = dict(TOY, epochs=3, patience=3)
    whole = DINRanker(DINParams(**params))
    whole.fit(toy[:2], RunSettings(seed=1, device="cpu"))
    checkpoint = tmp_path / "din.pt"
    DINRanker(DINParams(**dict(params, epochs=1))).fit(
        toy[:2], RunSettings(seed=1, device="cpu", checkpoint=checkpoint)
    )  # "interrupted" after epoch 1
    resumed = DINRanker(DINParams(**params))
    log = resumed.fit(toy[:2], RunSettings(seed=1, device="cpu", checkpoint=checkpoint, resume=True))
    assert log["resumed_from"] == 1 and len(log["epochs"]) == 3
    np.testing.assert_array_equal(resumed.score(toy[2]), whole.score(toy[2]))


def _relabelled(weeks, label):
    """The toy weeks with each customer's purchase chosen by `label(candidates)` instead."""
    return [RankingWeek(w.ctx, w.candidates.with_columns(label=label(w.candidates)), w.sources, w.k) for w in weeks]


def _coin(weeks):
    """Purchases drawn at random between the two candidates: nothing can be learned."""
    rng = np.random.default_rng(3)
    return _relabelled(
        weeks,
        lambda c: pl.Series(np.repeat(rng.integers(0, 2, c.height // 2), 2) == np.tile([0, 1], c.height // 2)).cast(
            pl.UInt8
        ),
    )


def test_din_with_nothing_to_learn_keeps_merges_order(toy) -> None:
    coin = _coin(toy)
    ranker = DINRanker(DINParams(**dict(TOY, epochs=2, patience=2)))
    log = ranker.fit(coin[:2], RunSettings(seed=0, device="cpu"))
    assert log["kept"] == "merge's order" and log["gain"]["map@12"] <= 2 * log["gain"]["stderr"]
    np.testing.assert_allclose(ranker.score(coin[2]), ranker.trained.fusion.prior(coin[2]), rtol=1e-6)


def test_lgbm_starts_from_merge_and_keeps_trees_only_where_they_help(toy) -> None:
    """Coin-flip purchases: no tree clearly helps, so lgbm ranks exactly as merge's order. Purchases
    of the source's second choice: the trees overturn merge's order."""
    from hmrec_plugins.lgbm import LGBMParams, LGBMRanker

    coin = _coin(toy)
    noisy = LGBMRanker(LGBMParams(trees=30, patience=30))
    assert noisy.fit(coin[:2], RunSettings(seed=0))["trees"] == 0
    np.testing.assert_allclose(noisy.score(coin[2]), noisy.fusion.prior(coin[2]), rtol=1e-6)
    second = _relabelled(toy, lambda c: (c["src_rank"] == 1).cast(pl.UInt8))
    learned = LGBMRanker(LGBMParams(trees=30, patience=30, min_data_in_leaf=5))
    log = learned.fit(second[:2], RunSettings(seed=0))
    assert log["trees"] >= 1 and log["start"] < 0.6 and log["best"] > 0.95
    assert map_of_scores(second[2].candidates, learned.score(second[2])) > 0.95


def test_lgbm_judges_each_half_of_the_buyers_by_the_trees_the_other_half_picked(toy) -> None:
    """Coin-flip purchases for one half of the newest training week's buyers: the other half picks
    the same number of trees as before (its curve never saw the coins), and the gain, measured on
    every buyer, falls: the coin half's buyers are judged by trees they did not pick."""
    from hmrec_plugins.lgbm import LGBMParams, LGBMRanker

    from hmrec_cli.toolkit.fusion import halves_with_a_hit

    second = _relabelled(toy, lambda c: (c["src_rank"] == 1).cast(pl.UInt8))
    coin_half = halves_with_a_hit(second[1], 10**6, None)[0][1]["customer"].unique()
    rng = np.random.default_rng(5)
    coin = pl.Series(rng.integers(0, 2, second[1].candidates.height // 2).repeat(2) == np.tile([0, 1], 300))

    def fitted(half: pl.Series) -> dict:
        """The log of lgbm fitted where the buyers in `half` of the newest week bought at random."""
        newest = second[1].candidates
        label = pl.when(pl.col("customer").is_in(half.implode())).then(coin.cast(pl.UInt8)).otherwise("label")
        weeks = [second[0], RankingWeek(second[1].ctx, newest.with_columns(label=label), ("src",), 2)]
        params = LGBMParams(trees=30, patience=30, min_data_in_leaf=5, refit=False)
        return LGBMRanker(params).fit(weeks, RunSettings(seed=0))

    clean, coins = fitted(coin_half.head(0)), fitted(coin_half)
    assert clean["trees"] >= 1 and clean["gain"]["map@12"] > 0.3
    assert coins["picks"][0] == clean["picks"][0]
    assert coins["gain"]["map@12"] < clean["gain"]["map@12"] - 0.1
    assert coins["gain"]["buyers"] == clean["gain"]["buyers"] == second[1].candidates["customer"].n_unique()


def test_a_held_out_half_is_scored_with_the_other_halfs_number_of_trees() -> None:
    from hmrec_plugins.lgbm import HeldOut, Validation

    from hmrec_cli.metrics import ManyOrders

    rows = pl.DataFrame({"customer": [0, 0, 1, 1], "article": [0, 1, 0, 1], "label": [1, 0, 0, 1], "bought": [1] * 4})
    start = np.array([1.0, 0.0, 1.0, 0.0])  # merge's order: right for customer 0, wrong for 1
    half = Validation((np.zeros((4, 1)), rows["label"].to_numpy(), np.array([2, 2]), start), ManyOrders(rows), 1.0)
    asked = []

    def scores_with(which: Validation, trees: int) -> np.ndarray:
        asked.append((which is half, trees))
        return -start if trees == 7 else start  # 7 trees reverse merge's order

    other = Validation(half.table, half.orders, 1.0)
    gains = HeldOut((half, other)).cross_fitted(scores_with, picks=(3, 7))
    assert asked == [(True, 7), (False, 3)]
    np.testing.assert_allclose(gains, [-0.5, 0.5, 0.0, 0.0])


def test_score_top_scores_only_merges_first_candidates(toy) -> None:
    """-o score_top=N: the network scores each customer's first N candidates in merge's order (the
    same scores as scoring all), the rest follow below them in merge's order; N above every
    customer's count changes nothing."""
    ranker = DINRanker(DINParams(**TOY))
    ranker.fit(toy[:2], RunSettings(seed=0, device="cpu"))
    assert not ranker.trained.prior_only  # the network is kept, so there is something to cut
    week = toy[2]
    full = ranker.score(week)
    ranker.params = dataclasses.replace(ranker.params, score_top=1000)
    np.testing.assert_array_equal(ranker.score(week), full)
    ranker.params = dataclasses.replace(ranker.params, score_top=1)
    cut = ranker.score(week)
    order = ranker.trained.fusion.prior(week)
    first = order == 0
    np.testing.assert_array_equal(cut[first], full[first])
    rows = week.candidates.select("customer", first=pl.Series(first), cut=pl.Series(cut))
    lowest_first = rows.filter("first").group_by("customer").agg(pl.col("cut").min())
    highest_rest = rows.filter(~pl.col("first")).group_by("customer").agg(pl.col("cut").max())
    both = lowest_first.join(highest_rest, on="customer", suffix="_rest")
    assert both.height > 0 and (both["cut"] > both["cut_rest"]).all()
