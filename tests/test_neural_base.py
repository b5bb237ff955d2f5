"""The core pieces neural retrievers stand on: multi-week examples (known answer, no leakage),
id frequencies, exact top-k with exclusions, seeded batches and the epoch-end hook."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import torch

from hmrec_cli.data.splits import Week
from hmrec_cli.toolkit.ann import top_k_on_device
from hmrec_cli.toolkit.batches import id_frequency, shuffled_batches
from hmrec_cli.toolkit.features import recent_sales
from hmrec_cli.toolkit.towers import PopularityPrior
from hmrec_cli.toolkit.training import Settings, train
from hmrec_cli.toolkit.weekly_examples import USER_DENSE, weekly_examples, weeks_holding

TARGET = Week(date(2020, 9, 16), "last")


def _history(rows) -> pl.DataFrame:
    return pl.DataFrame(
        [(TARGET.start - timedelta(days=d), c, a, 0.01, ch) for d, c, a, ch in rows],
        schema={
            "t_dat": pl.Date,
            "customer": pl.UInt32,
            "article": pl.UInt32,
            "price": pl.Float32,
            "channel": pl.UInt8,
        },
        orient="row",
    ).sort("t_dat")


# (days before the target week, customer, article, channel); the target week's training weeks
# start 7 (newest), 14 and 21 days before it
ROWS = [
    (30, 0, 5, 2),
    (25, 0, 6, 1),
    (20, 0, 7, 2),
    (10, 0, 8, 2),
    (10, 0, 9, 2),
    (3, 0, 4, 1),
    (19, 1, 7, 1),
    (16, 1, 3, 1),
    (2, 1, 2, 2),
    (40, 2, 1, 1),
]


def test_examples_hold_each_buyers_history_at_the_weeks_start_and_that_weeks_purchases() -> None:
    ex = weekly_examples(_history(ROWS), TARGET, weeks=3, length=2)
    assert ex.starts == tuple(TARGET.start - timedelta(days=d) for d in (21, 14, 7))
    week_customer = list(zip(ex.week.tolist(), ex.users.customer.tolist(), strict=True))
    assert week_customer == [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)]  # buyers of each week
    # customer 0 in the oldest week (starts day 21): bought 7 on day 20, history 6 (day 25), 5 (day 30)
    assert ex.users.items[0].tolist() == [6 + 1, 5 + 1] and ex.users.age_days[0].tolist() == [4, 9]
    assert ex.users.items[1].tolist() == [0, 0]  # customer 1 had nothing before day 21: padding
    pairs = sorted(zip(ex.pair_example.tolist(), ex.pair_article.tolist(), strict=True))
    assert pairs == [(0, 7), (1, 3), (1, 7), (2, 8), (2, 9), (3, 4), (4, 2)]
    # newest week (starts day 7): customer 0's last two purchases are 8 and 9 (same day), ages 3
    assert sorted(ex.users.items[3].tolist()) == [9, 10] and ex.users.age_days[3].tolist() == [3, 3]
    assert ex.users.dense.shape == (5, len(USER_DENSE))
    assert ex.users.dense[1, 0] == 0 and ex.users.dense[4, 0] == np.float32(np.log1p(2))  # purchases before the cut


def test_rows_of_week_w_or_later_do_not_change_the_examples_for_w() -> None:
    base = weekly_examples(_history(ROWS), TARGET, weeks=3, length=4)
    w = 1  # the middle week, starting 14 days before the target
    cut = ex_start = base.starts[w]
    altered_rows = [
        (d, c, (a + 1) % 10 if TARGET.start - timedelta(days=d) >= ex_start else a, ch) for d, c, a, ch in ROWS
    ]
    altered_rows += [(12, 2, 3, 2), (1, 2, 4, 2)]  # a new buyer in week w and later
    altered = weekly_examples(_history(altered_rows), TARGET, weeks=3, length=4)
    for ex in (base, altered):
        assert ex.starts[w] == cut
    mine = lambda ex, i: ex.users.customer[ex.week == i]  # noqa: E731
    # earlier weeks: identical in every respect
    old = base.week < w
    assert np.array_equal(altered.week[altered.week < w], base.week[old])
    for field in ("customer", "items", "age_days", "dense"):
        assert np.array_equal(getattr(altered.users, field)[altered.week < w], getattr(base.users, field)[old])
    # week w: the inputs of its earlier buyers are unchanged (only what they bought may differ)
    shared = np.isin(mine(altered, w), mine(base, w))
    for field in ("items", "age_days", "dense"):
        assert np.array_equal(
            getattr(altered.users, field)[altered.week == w][shared], getattr(base.users, field)[base.week == w]
        )


def test_a_thin_log_trains_on_as_many_weeks_as_hold_min_purchases() -> None:
    """ROWS: 2 purchases in the week just before the target (days 1-7 before it), 2 in the one
    before, 3 in the third, then 1 in each of the fourth, fifth and sixth (days 25, 30, 40)."""
    history = _history(ROWS)
    assert weeks_holding(history, TARGET, 2, 0) == 2  # off: exactly `weeks`
    assert weeks_holding(history, TARGET, 2, 4) == 2  # two weeks already hold 4
    assert weeks_holding(history, TARGET, 2, 5) == 3
    assert weeks_holding(history, TARGET, 1, 8) == 4
    assert weeks_holding(history, TARGET, 1, 11) == 6  # never reached: the whole history
    assert (
        weekly_examples(history, TARGET, 1, 2, min_purchases=5).starts == weekly_examples(history, TARGET, 3, 2).starts
    )


def test_recent_sales_count_only_the_days_before_each_start() -> None:
    history = _history(ROWS)
    starts = [TARGET.start - timedelta(days=14), TARGET.start]
    counts = recent_sales(history, starts, 10)
    assert counts[0].tolist() == [0, 0, 0, 1, 0, 0, 0, 2, 0, 0]  # days 15..21 before the target: 3 (16), 7 (19, 20)
    assert counts[1].tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 0, 0]  # days 1..7: 2 (2), 4 (3)


def test_the_popularity_prior_recovers_the_law_the_purchases_follow() -> None:
    """Purchases drawn with P(article) proportional to exp(sold + power x log sales) (0 for no
    sale) over 2 weeks of 400 articles: the fit finds both parameters; a prior of zeros adds nothing."""
    gen = torch.Generator().manual_seed(0)
    counts = torch.randint(0, 30, (2, 400), generator=gen)
    truth = PopularityPrior(sold=-1.5, power=0.8)
    probability = torch.softmax(truth.logits(counts).double(), dim=1)
    week = torch.arange(2).repeat_interleave(20_000)
    target = torch.cat([torch.multinomial(probability[w], 20_000, replacement=True, generator=gen) for w in (0, 1)])
    fitted = PopularityPrior.fit(counts, week, target)
    assert abs(fitted.sold - truth.sold) < 0.1 and abs(fitted.power - truth.power) < 0.05
    assert fitted.logits(torch.tensor([0, 1, 8])).tolist() == [
        0.0,
        *truth.__class__(fitted.sold, fitted.power).logits(torch.tensor([1, 8])).tolist(),
    ]
    assert PopularityPrior.fit(counts, week[:0], target[:0]) == PopularityPrior(0.0, 0.0)


def test_id_frequency_counts_ids_and_sequence_occurrences() -> None:
    ids = torch.tensor([0, 2, 2])
    sequences = torch.tensor([[1, 2], [3, 0]])
    got = id_frequency(ids, 5, sequences, torch.tensor([0, 0, 1]))
    assert got.tolist() == [1 + 1, 2, 2 + 2, 1, 1]  # 0: once as id, once in sequence 1; 4: never -> 1


def test_top_k_on_device_equals_brute_force_with_exclusions() -> None:
    rng = np.random.default_rng(0)
    users, items = rng.standard_normal((37, 6)).astype(np.float32), rng.standard_normal((50, 6)).astype(np.float32)
    exclude = np.zeros(50, dtype=bool)
    exclude[[3, 7, 11]] = True
    pairs = (np.array([0, 0, 36, 20]), np.array([1, 2, 49, 0]))
    values, index = top_k_on_device(
        torch.from_numpy(users),
        torch.from_numpy(items),
        10,
        chunk=8,
        exclude=torch.from_numpy(exclude),
        exclude_pairs=(torch.from_numpy(pairs[0]), torch.from_numpy(pairs[1])),
    )
    scores = users @ items.T
    scores[:, exclude] = -np.inf
    scores[pairs] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(index.numpy(), expected)
    np.testing.assert_allclose(values.numpy(), np.take_along_axis(scores, expected, 1), rtol=1e-5)


def test_shuffled_batches_depend_on_seed_and_epoch_and_keep_groups_whole() -> None:
    cpu = torch.device("cpu")
    one = [b.tolist() for b in shuffled_batches(10, 4, seed=1, epoch=0, device=cpu)]
    assert one == [b.tolist() for b in shuffled_batches(10, 4, seed=1, epoch=0, device=cpu)]
    assert one != [b.tolist() for b in shuffled_batches(10, 4, seed=1, epoch=1, device=cpu)]
    assert sorted(sum(one, [])) == list(range(10))
    groups = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    for batch in shuffled_batches(10, 3, seed=0, epoch=0, device=cpu, groups=groups):
        for g in groups[batch].unique():
            assert (groups[batch] == g).sum() == (groups == g).sum()


def test_epoch_end_hook_runs_once_per_epoch_and_not_again_on_resume(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(32, 3), torch.randn(32)

    def fit(epochs: int, resume: bool) -> list[int]:
        model = torch.nn.Linear(3, 1)
        seen: list[int] = []
        train(
            model,
            lambda idx: ((model(x[idx]).squeeze(-1) - y[idx]) ** 2).mean(),
            lambda epoch: shuffled_batches(32, 8, 0, epoch, torch.device("cpu")),
            32,
            Settings(epochs, 0.01),
            checkpoint=tmp_path / "m.pt",
            resume=resume,
            on_epoch_end=seen.append,
        )
        return seen

    assert fit(2, resume=False) == [1, 2]
    assert fit(4, resume=True) == [3, 4]
