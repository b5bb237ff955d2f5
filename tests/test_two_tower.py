"""youtube-dnn and sampled-softmax: the logQ correction, order-aware histories, ANN vs exact, resume."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from hmrec_plugins.hsoftmax import HSoftmax
from hmrec_plugins.popular import Popular
from hmrec_plugins.tdm import TDM
from hmrec_plugins.two_tower import SampledSoftmax, YouTubeDNN
from hmrec_plugins.two_tower.fitting import softmax_columns
from hmrec_plugins.two_tower.model import OutputEmbeddings, full_softmax_loss, sampled_softmax_loss

from hmrec_cli import console
from hmrec_cli.data.splits import Week, history, resolve_week
from hmrec_cli.data.store import Store
from hmrec_cli.plugin_api import Context, RunSettings
from hmrec_cli.toolkit.ann import top_k_on_device
from hmrec_cli.toolkit.batches import MIN_BATCH, scaled_batch
from hmrec_cli.toolkit.towers import RepeatTerm, repeat_pairs

QUICK = dict(
    epochs=1, weeks=3, min_purchases=0, embedding_size=16, side_embedding_size=4, hidden="32", history_length=8
)


def _sampled_gap(scores: np.ndarray, q: np.ndarray, positive: int, draws: int, logq: bool, rng) -> float:
    """|sampled loss - full loss| for one user, columns = the positive + draws from q; the sampled
    loss is put on the full loss's scale by its known constant (log of the expected draws of the
    positive with logQ, log of the column count without)."""
    columns = np.concatenate([[positive], rng.choice(q.size, draws - 1, p=q)])
    got = float(
        sampled_softmax_loss(torch.tensor(scores[columns])[None], torch.tensor(np.log(q[columns])) if logq else None)
    )
    full = float(torch.logsumexp(torch.tensor(scores), 0) - scores[positive])
    constant = np.log(draws * q[positive]) if logq else np.log(draws)
    return abs(got - constant - full)


def test_logq_correction_has_the_right_sign_and_the_sampled_loss_approaches_the_full_softmax() -> None:
    # the sign: a rare positive among popular negatives gains from the correction, a popular one loses
    scores, log_q = torch.zeros(1, 3), torch.log(torch.tensor([0.01, 0.5, 0.49]))
    assert sampled_softmax_loss(scores, log_q) < sampled_softmax_loss(scores, None)
    popular_positive = torch.log(torch.tensor([0.5, 0.01, 0.49]))
    assert sampled_softmax_loss(scores, popular_positive) > sampled_softmax_loss(scores, None)
    # convergence: with popularity-skewed draws, the corrected loss tends to the full-catalogue loss
    rng = np.random.default_rng(0)
    q = 1.0 / np.arange(1, 201) ** 1.1
    q /= q.sum()
    scores = rng.standard_normal(200)
    gaps = {
        (n, logq): np.mean([_sampled_gap(scores, q, p, n, logq, rng) for p in (0, 5, 50, 150)])
        for n in (20, 200_000)
        for logq in (True, False)
    }
    assert gaps[(200_000, True)] < 0.02 < gaps[(20, True)]
    assert gaps[(200_000, False)] > 0.2  # without the correction the bias stays


def test_the_sold_softmax_is_the_full_softmax_over_its_columns_and_leaves_the_rest_alone() -> None:
    torch.manual_seed(0)
    out, users = OutputEmbeddings(50, 8), torch.randn(6, 8)
    excluded = np.ones(50, dtype=bool)
    excluded[[3, 7, 20, 41]] = False  # proposable (sold within sold_within_days)
    pair_article = np.array([7, 12, 41, 12, 30, 3])
    kept, pair_column = softmax_columns(pair_article, excluded, "sold")
    assert kept.tolist() == [3, 7, 12, 20, 30, 41] and kept[pair_column].tolist() == pair_article.tolist()
    restricted = full_softmax_loss(users, out, torch.from_numpy(pair_column), torch.from_numpy(kept))
    logits = users @ out.weight.T + out.bias
    assert restricted.item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits[:, kept], torch.from_numpy(pair_column)).item(), rel=1e-6
    )
    assert (
        full_softmax_loss(users, out, torch.from_numpy(pair_article)).item() > restricted.item()
    )  # the full one also pushes the others down
    restricted.backward()
    outside = np.setdiff1d(np.arange(50), kept)
    assert out.weight.grad[outside].abs().sum() == 0 and out.weight.grad[kept].abs().sum() > 0
    assert softmax_columns(pair_article, excluded, "all")[0] is None  # the whole catalogue on request
    assert softmax_columns(pair_article, None, "sold")[0] is None  # every article proposable: nothing to leave out


def _world(rows: list, customers: int, articles: int, target: Week) -> tuple[Context, pl.DataFrame]:
    """A Context at `target` over (date, customer, article) `rows`, and what was bought from then on."""
    tx = (
        pl.DataFrame(rows, schema={"t_dat": pl.Date, "customer": pl.UInt32, "article": pl.UInt32}, orient="row")
        .with_columns(price=pl.lit(0.02, pl.Float32), channel=pl.lit(2, pl.UInt8))
        .sort("t_dat")
    )
    catalogue = pl.DataFrame(
        {
            "article": np.arange(articles, dtype=np.uint32),
            "product_code": np.arange(articles, dtype=np.int32),
            **{
                f: np.zeros(articles, dtype=np.int32)
                for f in ("product_type_no", "colour_group_code", "department_no", "garment_group_no")
            },
            "product_group_name": ["Garment"] * articles,
            "index_group_name": ["Ladieswear"] * articles,
        }
    )
    people = pl.DataFrame(
        {
            "customer": np.arange(customers, dtype=np.uint32),
            "age": np.full(customers, 30, dtype=np.uint8),
            "club_member_status": ["ACTIVE"] * customers,
            "fashion_news_frequency": ["NONE"] * customers,
            "FN": [True] * customers,
            "Active": [True] * customers,
        }
    )
    ctx = Context(history=history(tx, target), articles=catalogue, customers=people, week=target)
    return ctx, tx.filter(pl.col("t_dat") >= target.start).select("customer", "article")


def _order_world(weeks: int = 6, per_week: int = 150):
    """Every customer bought two of the articles 0-9, one long ago and one just before their
    week; what they buy that week is 10 + the *more recent* one. The same pair in the other order
    means another purchase, so only the order of the history tells; popularity cannot."""
    rng = np.random.default_rng(1)
    n = weeks * per_week
    starts = [date(2020, 6, 3) + timedelta(days=7 * w) for w in range(weeks)]
    rows = []
    for c in range(n):
        start = starts[c // per_week]
        old, recent = rng.choice(10, 2, replace=False)
        rows += [
            (start - timedelta(days=int(rng.integers(40, 60))), c, int(old)),
            (start - timedelta(days=int(rng.integers(1, 4))), c, int(recent)),
        ]
        rows.append((start + timedelta(days=int(rng.integers(0, 7))), c, 10 + int(recent)))
    return _world(rows, n, 20, Week(starts[-1], starts[-1].isoformat()))


def _hit_rate(candidates: pl.DataFrame, truth: pl.DataFrame, k: int) -> float:
    top = (
        candidates.sort(["customer", "score", "article"], descending=[False, True, False])
        .group_by("customer", maintain_order=True)
        .head(k)
    )
    return truth.join(top, on=["customer", "article"]).height / truth.height


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_youtube_dnn_learns_what_the_order_of_the_history_says_and_popular_cannot(pooling: str) -> None:
    ctx, truth = _order_world()
    buyers = truth["customer"].unique().sort()
    dnn = YouTubeDNN(
        YouTubeDNN.Params(
            pooling=pooling,
            epochs=10,
            weeks=5,
            embedding_size=16,
            side_embedding_size=2,
            hidden="32",
            batch_size=128,
            half_life_days=10.0,
            sold_within_days=0,
            learning_rate=0.02,
        )
    )
    dnn.fit(ctx, RunSettings(seed=0, device="cpu"))
    popular = Popular()
    popular.fit(ctx, RunSettings())
    learned, blind = _hit_rate(dnn.retrieve(buyers, 2), truth, 1), _hit_rate(popular.retrieve(buyers, 2), truth, 1)
    assert learned > 0.8 and blind < 0.25  # ten equally likely next purchases: popularity guesses ~0.1


def _trend_world(weeks: int = 10, per_week: int = 100):
    """Each article 0..4 is the best seller for two weeks running (article w // 2 in week w): 70%
    of a week's buyers buy it, the rest one of the articles 10-39. Every customer buys in one week
    only, after one random purchase long before, so nothing about them tells; only what sold in
    the days before the week does. The target week is the second of its best seller's two."""
    rng = np.random.default_rng(2)
    starts = [date(2020, 6, 3) + timedelta(days=7 * w) for w in range(weeks)]
    rows = []
    for c in range(weeks * per_week):
        w = c // per_week
        bought = w // 2 if rng.random() < 0.7 else int(rng.integers(10, 40))
        rows += [
            (starts[0] - timedelta(days=int(rng.integers(30, 60))), c, int(rng.integers(10, 40))),
            (starts[w] + timedelta(days=int(rng.integers(0, 7))), c, bought),
        ]
    return _world(rows, weeks * per_week, 40, Week(starts[-1], starts[-1].isoformat()))


def _trend_options(plugin) -> dict:
    """Quick settings for the trend world: 8 training weeks, every article searchable."""
    if plugin is TDM:
        return dict(weeks=8, epochs=4, sold_within_days=0, valid_customers=0)
    extra = {"negatives": 16} if plugin is SampledSoftmax else {}
    return dict(QUICK, weeks=8, epochs=4, min_steps=20, sold_within_days=0, **extra)


@pytest.mark.parametrize("plugin", [YouTubeDNN, SampledSoftmax, HSoftmax, TDM])
def test_the_popularity_prior_follows_this_weeks_best_seller_where_a_bias_learns_the_mean(plugin) -> None:
    ctx, truth = _trend_world()
    buyers = truth["customer"].unique().sort()
    rates = {}
    for prior in (True, False):
        model = plugin(plugin.Params(**_trend_options(plugin), popularity_prior=prior))
        model.fit(ctx, RunSettings(seed=0, device="cpu"))
        rates[prior] = _hit_rate(model.retrieve(buyers, 1), truth, 1)
    # 0.7 buy the week's best seller; without the prior the model ranks another of the training weeks' first
    assert rates[True] > 0.6 and rates[False] < 0.3, rates


@pytest.mark.parametrize("plugin", [YouTubeDNN, HSoftmax])
def test_a_fit_without_examples_names_the_weeks_it_searched(plugin) -> None:
    """Every purchase falls 10 days before the week, with no history before it: min_purchases
    widens 1 training week to the log's 2, and the warning names those 2."""
    start = date(2020, 9, 16)
    rows = [(start - timedelta(days=10), c, c % 3) for c in range(5)]
    ctx, _ = _world(rows, 5, 3, Week(start, "last"))
    said: list[str] = []
    with console.warnings_to(said.append):
        plugin(plugin.Params(**dict(QUICK, weeks=1, min_purchases=100))).fit(ctx, RunSettings(seed=0, device="cpu"))
    expected = f"{plugin.name}: no week with purchases and earlier history in the 2 weeks before 2020-09-16; "
    assert expected + "proposing the popular articles" in said, said


def test_the_prior_is_folded_into_the_serving_vectors_as_a_last_column() -> None:
    """Serving scores (items @ users) equal the model's inner product (+ youtube-dnn's bias) plus
    the prior's offset of each article, for both article sides."""
    from hmrec_plugins.two_tower.model import TwoTower

    from hmrec_cli.toolkit.towers import Shape

    shape = Shape(articles=6, article_fields=(3,), customer_fields=(2,), dense=1, embedding_size=4, side_dim=2)
    codes, people = torch.zeros(6, 1, dtype=torch.long), torch.zeros(3, 1, dtype=torch.long)
    offsets = torch.tensor([0.0, 1.0, -2.0, 0.5, 3.0])
    users = torch.randn(3, 4)
    for loss in ("full", "sampled"):
        torch.manual_seed(0)
        model = TwoTower(shape, codes, people, loss, prior=True)
        with torch.no_grad():
            plain = model.serving_items() if loss == "full" else model.articles(torch.arange(5))
            expected = (users @ plain[:, :4].T) + (plain[:, 4] if loss == "full" else 0.0) + offsets
            got = model.serving_users(users) @ model.serving_items(offsets).T
        assert torch.allclose(got, expected, atol=1e-6)


@pytest.fixture(scope="module")
def tiny(store_dir: Path):
    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    ctx = Context(
        history=history(store.transactions, week), articles=store.articles, customers=store.customers, week=week
    )
    return ctx, store.customers["customer"]


def test_annoy_search_finds_the_exact_top_50(tiny) -> None:
    ctx, customers = tiny
    model = SampledSoftmax(SampledSoftmax.Params(**QUICK, negatives=64, search="annoy"))
    model.fit(ctx, RunSettings(seed=0, device="cpu"))
    who = customers.head(300)
    approx = model.retrieve(who, 50)
    ids, users = model.fitted.user_vectors(model.fitted.inputs(who))
    values, index = top_k_on_device(users, model.fitted.items, 50, exclude=model.fitted.excluded)
    exact = pl.DataFrame(
        {
            "customer": np.repeat(ids, index.shape[1]).astype(np.uint32),
            "article": index.numpy().ravel().astype(np.uint32),
        }
    )
    assert approx.join(exact, on=["customer", "article"]).height / exact.height >= 0.95


def test_annoy_search_with_the_repeat_term_finds_the_exact_top_50(tiny) -> None:
    """The index cannot hold a per-customer bonus: its neighbours and the customer's own articles,
    rescored with the term, are the exact search's top 50 (the same fit, search switched), and a
    large term puts every own article on sale in the list."""
    ctx, customers = tiny
    model = SampledSoftmax(SampledSoftmax.Params(**QUICK, negatives=64, search="annoy", repeat_term=True))
    model.fit(ctx, RunSettings(seed=0, device="cpu"))
    with torch.no_grad():
        model.fitted.model.repeat.weight.fill_(100.0)
    who = customers.head(300)
    approx = model.retrieve(who, 50)
    index = model.fitted.index
    model.fitted.index = None
    exact = model.retrieve(who, 50)
    model.fitted.index = index
    rows, articles, _ = repeat_pairs(model.fitted.model.repeat, model.fitted.inputs(who), "cpu")
    ids = who.unique().sort().to_numpy()
    own = pl.DataFrame({"customer": ids[rows.numpy()].astype(np.uint32), "article": articles.numpy().astype(np.uint32)})
    own = own.unique().filter(pl.col("article").is_in(model.fitted.allowed))
    assert own.height >= 100 and own.join(approx, on=["customer", "article"], how="anti").height == 0
    assert approx.join(exact, on=["customer", "article"]).height / exact.height >= 0.95
    assert approx.group_by("customer").len()["len"].max() == 50 and not approx.is_duplicated().any()


@pytest.mark.parametrize("plugin", [YouTubeDNN, SampledSoftmax])
def test_resume_after_epoch_1_equals_an_uninterrupted_run(plugin, tiny, tmp_path: Path) -> None:
    ctx, customers = tiny
    extra = {"negatives": 64} if plugin is SampledSoftmax else {}
    params = dict(QUICK, epochs=2, **extra)
    whole = plugin(plugin.Params(**params))
    whole.fit(ctx, RunSettings(seed=3, device="cpu"))
    checkpoint = tmp_path / "model.pt"
    plugin(plugin.Params(**dict(params, epochs=1))).fit(
        ctx, RunSettings(seed=3, device="cpu", checkpoint=checkpoint)
    )  # stopped after epoch 1
    resumed = plugin(plugin.Params(**params))
    log = resumed.fit(ctx, RunSettings(seed=3, device="cpu", checkpoint=checkpoint, resume=True))
    assert log["resumed_from"] == 1 and len(log["epochs"]) == 2
    assert resumed.retrieve(customers, 20).equals(whole.retrieve(customers, 20))


def test_recall_cli_keys_a_trained_retriever_by_device_and_keeps_its_training_log(
    cli, store_dir: Path, tmp_path: Path
) -> None:
    args = [
        "recall",
        "--method",
        "youtube-dnn",
        "--data",
        store_dir,
        "--cache",
        tmp_path,
        "--k",
        "12",
        *sum((["-o", o] for o in ("epochs=1", "weeks=2", "min_purchases=0", "embedding_size=8", "hidden=8")), []),
    ]
    first = cli.json(*args, "--device", "cpu")
    assert first["device"] == "cpu" and len(first["training"]["epochs"]) == 1
    assert (
        tmp_path / "models" / "youtube-dnn" / first["week"] / f"{first['model_key']}.pt"
    ).is_file()  # checkpoint beside the rankers'
    assert cli.json(*args, "--device", "cpu", "--resume")["key"] == first["key"]


def test_the_full_softmax_over_batch_slices_equals_the_whole_batch_loss_and_gradient(monkeypatch) -> None:
    from hmrec_plugins.two_tower import model

    torch.manual_seed(1)
    out, users, targets = OutputEmbeddings(50, 8), torch.randn(10, 8, requires_grad=True), torch.randint(0, 50, (10,))
    whole = torch.nn.functional.cross_entropy(users @ out.weight.T + out.bias, targets)
    expected = torch.autograd.grad(whole, [users, out.weight])
    monkeypatch.setattr(model, "CHUNK_BYTES", 4 * 50 * 3)  # slices of 3, 3, 3 and 1 purchases
    sliced = full_softmax_loss(users, out, targets)
    got = torch.autograd.grad(sliced, [users, out.weight])
    assert sliced.item() == pytest.approx(whole.item(), rel=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(got, expected, strict=True))


def test_the_repeat_term_adds_each_history_purchase_to_its_article_in_training_and_at_serving() -> None:
    """Row 0 bought article 2 twice (1 and 40 days ago) and article 0 once; row 1 nothing. The bonus
    on columns (duplicates allowed), by the softmax lookup, and added at serving all agree."""
    term = RepeatTerm()
    with torch.no_grad():
        term.weight.copy_(torch.arange(16, dtype=torch.float32))
    items = torch.tensor([[3, 3, 1], [0, 0, 0]])  # article index + 1, 0 = padding
    ages = torch.tensor([[1, 40, 3], [0, 0, 0]])
    w1, w40, w3 = 1.0, 6.0, 2.0  # log2 age buckets + 1: 1 day -> 1, 40 days -> 6, 3 days -> 2
    on_columns = term.on_columns(items, ages, torch.tensor([2, 0, 2, 1]))
    assert on_columns.tolist() == [[w1 + w40, w3, w1 + w40, 0.0], [0.0, 0.0, 0.0, 0.0]]
    column_of = torch.tensor([-1, 0, 1, 2])  # article index + 1 -> column
    assert term.on_lookup(items, ages, column_of, 3).tolist() == [[w3, 0.0, w1 + w40], [0.0, 0.0, 0.0]]
    users, vectors = torch.zeros(2, 2), torch.zeros(3, 2)
    rows, cols = torch.nonzero(items > 0, as_tuple=True)
    added = (rows, items[rows, cols] - 1, term.position_weights(items, ages)[rows, cols].detach())
    values, index = top_k_on_device(users, vectors, 2, add_pairs=added)
    assert index[0].tolist() == [2, 0] and values[0].tolist() == [w1 + w40, w3]


def test_a_small_log_trains_in_smaller_batches_enough_steps_to_learn() -> None:
    """750 purchases are one step of the default batch: four epochs of it leave the model at its
    random start. With the default `min_steps` the batches shrink and the same epochs learn."""
    ctx, truth = _order_world()
    buyers = truth["customer"].unique().sort()
    world = dict(
        weeks=5,
        min_purchases=0,
        half_life_days=10.0,
        sold_within_days=0,
        embedding_size=16,
        side_embedding_size=2,
        hidden="32",
    )
    rates = {}
    for min_steps in (0, YouTubeDNN.Params().min_steps):
        dnn = YouTubeDNN(YouTubeDNN.Params(**world, min_steps=min_steps))
        log = dnn.fit(ctx, RunSettings(seed=0, device="cpu"))
        rates[min_steps] = _hit_rate(dnn.retrieve(buyers, 2), truth, 1)
        assert log["batch_size"] == (1024 if min_steps == 0 else 16)
    assert rates[0] < 0.6 and rates[YouTubeDNN.Params().min_steps] > 0.9, rates


def test_the_batch_shrinks_only_below_min_steps_and_never_under_the_floor() -> None:
    assert scaled_batch(1_000_000, 1024, 100) == 1024  # a large log keeps its batch
    assert scaled_batch(50_000, 1024, 100) == 500
    assert scaled_batch(700, 1024, 100) == MIN_BATCH
    assert scaled_batch(700, 1024, 0) == 1024
