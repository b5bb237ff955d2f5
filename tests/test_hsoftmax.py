"""hsoftmax: trees are consistent, leaf probabilities are a distribution equal to the product
along the path, and a beam as wide as the tree finds exactly the brute-force top k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hmrec_plugins.hsoftmax.model import HierarchicalSoftmax
from hmrec_plugins.hsoftmax.tree import Tree, catalogue_tree, huffman_tree

from hmrec_cli.data.store import Store
from hmrec_cli.toolkit.towers import Shape


def _check(tree: Tree, articles: int) -> None:
    assert tree.parent[0] == -1 and (tree.parent[1:] >= 0).all()
    assert np.array_equal(tree.article_of[tree.leaf_of], np.arange(articles))  # each article exactly one leaf
    assert ((tree.article_of >= 0) == (tree.child_count == 0)).all()  # leaves are the articles
    children = np.arange(1, tree.nodes)
    start = tree.child_start[tree.parent[children]]
    assert ((start <= children) & (children < start + tree.child_count[tree.parent[children]])).all()  # contiguous
    depth = (tree.path >= 0).sum(1)
    assert np.array_equal(tree.path[np.arange(articles), depth - 1], tree.leaf_of)  # a path ends at its leaf
    first = tree.path[:, 0]
    assert (tree.parent[first] == 0).all()  # ... and starts under the root
    inner = tree.path[:, 1:]
    assert (
        tree.parent[inner[inner >= 0]] == tree.path[:, :-1][inner >= 0]
    ).all()  # each step is a child of the one before


@pytest.fixture(scope="module")
def articles(store_dir: Path):
    return Store.open(store_dir).articles


@pytest.mark.parametrize("branching", [3, 32])
def test_catalogue_tree_is_consistent_and_no_node_is_wider_than_asked(articles, branching: int) -> None:
    tree = catalogue_tree(articles, branching)
    _check(tree, articles.height)
    assert tree.child_count.max() <= branching
    # articles of one product code share their parent when the code has few enough articles
    codes = articles.sort("article")["product_code"].to_numpy()
    parents = tree.parent[tree.leaf_of]
    small = np.bincount(np.unique(codes, return_inverse=True)[1]) <= branching
    code_index = np.unique(codes, return_inverse=True)[1]
    for c in np.flatnonzero(small)[:50]:
        assert np.unique(parents[code_index == c]).size == 1


def test_huffman_tree_puts_frequent_articles_higher() -> None:
    frequency = np.array([1000, 1, 1, 50, 50, 3, 400, 2])
    tree = huffman_tree(frequency)
    _check(tree, frequency.size)
    depth = (tree.path >= 0).sum(1)
    assert depth[0] <= depth[6] <= depth[3] <= depth[1]
    assert (tree.child_count[tree.child_count > 0] == 2).all()


def _model(tree: Tree, users: int = 7, seed: int = 0, repeat: bool = False) -> tuple[HierarchicalSoftmax, torch.Tensor]:
    torch.manual_seed(seed)
    articles = tree.leaf_of.size
    shape = Shape(
        articles=articles + 1,
        article_fields=(2,),
        customer_fields=(2,),
        dense=1,
        embedding_size=8,
        side_dim=2,
        hidden=(4,),
    )
    model = HierarchicalSoftmax(
        shape,
        torch.zeros(articles + 1, 1, dtype=torch.long),
        torch.zeros(users, 1, dtype=torch.long),
        tree.arrays(),
        repeat,
    )
    with torch.no_grad():
        model.node_vectors.normal_(0, 1.0)
        model.node_bias.normal_(0, 0.5)
    return model, torch.randn(users, 8)


@pytest.mark.parametrize("kind", ["catalogue", "huffman"])
def test_leaf_probabilities_sum_to_one_and_equal_the_product_along_the_path(articles, kind: str) -> None:
    tree = catalogue_tree(articles, 4) if kind == "catalogue" else huffman_tree(np.arange(articles.height) % 17 + 1)
    model, users = _model(tree)
    with torch.no_grad():
        leaves = model.leaf_log_probs(users)
    np.testing.assert_allclose(leaves.exp().sum(1).numpy(), 1.0, rtol=1e-4)
    # the product along a path, one explicit softmax over each parent's children at a time
    logits = users @ model.node_vectors.T + model.node_bias
    for article in (0, articles.height // 2, articles.height - 1):
        product = torch.ones(users.shape[0])
        for node in tree.path[article][tree.path[article] >= 0]:
            parent = tree.parent[node]
            siblings = np.arange(tree.child_start[parent], tree.child_start[parent] + tree.child_count[parent])
            product = product * torch.softmax(logits[:, siblings], dim=1)[:, np.flatnonzero(siblings == node)[0]]
        np.testing.assert_allclose(leaves[:, article].exp().detach().numpy(), product.detach().numpy(), rtol=1e-4)
    # the training loss is -log of the same probability
    target = torch.tensor([3] * users.shape[0])
    assert torch.isclose(model.loss(users, target), -leaves[:, 3].mean(), rtol=1e-5)


@pytest.mark.parametrize("kind", ["catalogue", "huffman"])
def test_beam_as_wide_as_the_tree_equals_brute_force_top_k(articles, kind: str) -> None:
    tree = catalogue_tree(articles, 8) if kind == "catalogue" else huffman_tree(np.arange(articles.height) % 13 + 1)
    model, users = _model(tree, users=20, seed=1)
    k = 30
    with torch.no_grad():
        rows, found, log_p = model.beam_search(users, k, beam=tree.nodes)
        values, expected = torch.topk(model.leaf_log_probs(users), k, dim=1)
    assert torch.equal(rows, torch.arange(users.shape[0]).repeat_interleave(k))
    assert torch.equal(found.reshape(-1, k), expected)
    torch.testing.assert_close(log_p.reshape(-1, k), values, rtol=1e-5, atol=1e-5)
    # a narrow beam still returns k distinct articles per user, each scored exactly
    with torch.no_grad():
        rows, found, log_p = model.beam_search(users, k, beam=k)
    exact = model.leaf_log_probs(users)[rows, found]
    torch.testing.assert_close(log_p, exact.detach(), rtol=1e-5, atol=1e-5)
    assert all(found[rows == r].unique().numel() == k for r in range(users.shape[0]))


@pytest.mark.parametrize("kind", ["catalogue", "huffman"])
def test_the_popularity_tilt_is_the_prior_at_zero_logits_and_stays_one_distribution(articles, kind: str) -> None:
    """Each child's offset is the log of its leaves' summed exp(offset): with zero logits the tree
    is exactly softmax(offsets) (the path's product telescopes); with any logits it still sums to
    1, the loss is -log of it, and beam search (as wide as the tree) returns its top k."""
    tree = catalogue_tree(articles, 4) if kind == "catalogue" else huffman_tree(np.arange(articles.height) % 17 + 1)
    model, users = _model(tree, users=5)
    by_article = torch.randn(2, articles.height) * 2.0  # two weeks' article offsets
    offsets = model.node_offsets(by_article)
    with torch.no_grad():
        vectors, bias = model.node_vectors.clone(), model.node_bias.clone()
        model.node_vectors.zero_()
        model.node_bias.zero_()
        for week in (0, 1):
            flat = model.leaf_log_probs(users, offsets[week])
            torch.testing.assert_close(flat, torch.log_softmax(by_article[week], 0).expand_as(flat), atol=1e-5, rtol=0)
        model.node_vectors.copy_(vectors)
        model.node_bias.copy_(bias)
        tilted = model.leaf_log_probs(users, offsets[1])
    np.testing.assert_allclose(tilted.exp().sum(1).numpy(), 1.0, rtol=1e-4)
    assert not torch.allclose(tilted, model.leaf_log_probs(users).detach(), atol=1e-3)
    target = torch.tensor([3] * users.shape[0])
    week = torch.ones(users.shape[0], dtype=torch.long)
    assert torch.isclose(model.loss(users, target, tilt=(offsets, week)), -tilted[:, 3].mean(), rtol=1e-5)
    with torch.no_grad():
        rows, found, log_p = model.beam_search(users, 10, beam=tree.nodes, offsets=offsets[1])
        values, expected = torch.topk(tilted, 10, dim=1)
    assert torch.equal(found.reshape(-1, 10), expected)
    torch.testing.assert_close(log_p.reshape(-1, 10), values, rtol=1e-5, atol=1e-5)


def test_the_repeat_mixture_is_a_distribution_and_training_minimises_its_minus_log(articles) -> None:
    """P(a) = (1 - g) P_tree(a) + g P_own(a) sums to 1 over the catalogue for a customer with a
    history and one without; the loss is -log P of the target, bought before or not."""
    tree = catalogue_tree(articles, 4)
    model, users = _model(tree, users=3, repeat=True)
    with torch.no_grad():
        model.repeat.age_weight.normal_(0, 1.0)
        model.repeat.gate.weight.normal_(0, 1.0)
    items = torch.tensor([[3, 9, 3, 0], [0, 0, 0, 0], [5, 0, 0, 0]])  # article index + 1; 0 = padding
    ages = torch.tensor([[2, 10, 40, 0], [0, 0, 0, 0], [1, 0, 0, 0]])
    every = torch.arange(tree.leaf_of.size)
    with torch.no_grad():
        log_gate, log_rest = model.repeat.log_gates(users, items)
        tree_p = model.leaf_log_probs(users).exp()
        own = torch.stack([model.repeat.own_of(items, ages, torch.full((3,), a)) for a in every.tolist()], 1)
        mixture = (1 - log_gate.exp()).unsqueeze(1) * tree_p + log_gate.exp().unsqueeze(1) * own
        for row in range(3):
            assert torch.allclose(model.tree_log_probs(users[[row] * 5], every[:5]), tree_p[row, :5].log(), atol=1e-5)
    np.testing.assert_allclose(mixture.sum(1).numpy(), 1.0, rtol=1e-5)
    assert own[1].sum() == 0 and torch.isclose(own[0].sum(), torch.tensor(1.0)) and own[0, 2] > 0 and own[0, 8] > 0
    assert torch.allclose(log_rest.exp(), 1 - log_gate.exp()) and log_gate[1] == -torch.inf
    for target in (2, 4):  # bought before by row 0, by row 2
        want = -mixture[:, target].log().mean()
        got = model.loss(users, torch.full((3,), target), items, ages)
        assert torch.isclose(got, want, rtol=1e-5)


def test_the_repeat_term_puts_the_customers_own_articles_where_the_mixture_ranks_them(store_dir: Path) -> None:
    """With the gate forced near 1 the first articles of each customer are their own recent ones
    on sale; forced near 0 the list is the tree's order, as without the term (an exact beam, so
    an own article the beam did not reach cannot outrank what it found)."""
    from hmrec_plugins.hsoftmax import HSoftmax

    from hmrec_cli.data.splits import history, resolve_week
    from hmrec_cli.plugin_api import Context, RunSettings
    from hmrec_cli.toolkit.weekly_examples import user_inputs

    store = Store.open(store_dir)
    week = resolve_week("1", store.first_date, store.last_date)
    ctx = Context(history(store.transactions, week), store.articles, store.customers, week)
    quick = dict(
        epochs=1, weeks=3, min_purchases=0, embedding_size=16, side_embedding_size=4, hidden="32", history_length=8
    )
    mixed = HSoftmax(HSoftmax.Params(**quick, beam=100_000, repeat_term=True))
    mixed.fit(ctx, RunSettings(seed=0, device="cpu"))
    who = store.customers["customer"].head(200)
    inputs = user_inputs(ctx.history, week, who, 8)
    own = {c: {a - 1 for a in row if a > 0} for c, row in zip(inputs.customer, inputs.items, strict=True)}
    on_sale = set(np.flatnonzero(~mixed.fitted.excluded)) if mixed.fitted.excluded is not None else None
    gate = mixed.fitted.model.repeat.gate
    with torch.no_grad():
        gate.weight.zero_()
        gate.bias.fill_(30.0)
    got = mixed.retrieve(who, 20).group_by("customer", maintain_order=True).agg("article")
    checked = 0
    for customer, arts in got.iter_rows():
        mine = own[customer] if on_sale is None else own[customer] & on_sale
        assert set(arts[: len(mine)]) == mine and len(set(arts)) == len(arts)
        checked += len(mine) > 0
    assert checked >= 50
    with torch.no_grad():
        gate.bias.fill_(-30.0)
    low = mixed.retrieve(who, 20)
    mixed.fitted.model.repeat = None  # the same tree and tower without the term: the beam's own order
    assert low.select("customer", "article").equals(mixed.retrieve(who, 20).select("customer", "article"))
