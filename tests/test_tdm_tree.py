"""TDM's tree, sampler, scorer and beam search, on small hand-made catalogues (no store needed)."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest
import torch
from hmrec_plugins.tdm.beam import TreeOnDevice, beam_search, exhaustive
from hmrec_plugins.tdm.fitting import node_offsets
from hmrec_plugins.tdm.model import NodeScorer, Shape
from hmrec_plugins.tdm.sampler import LevelSampler
from hmrec_plugins.tdm.tree import Tree, catalogue_tree, depth_for, kmeans_tree, level_start
from hmrec_plugins.tdm.tree_learning import _deferred_acceptance, install, reassigned_tree, sample_votes


def check_invariants(tree: Tree, n: int, b: int) -> None:
    assert tree.depth == depth_for(n, b) and b**tree.depth >= n > b ** (tree.depth - 1) or (n <= b and tree.depth == 1)
    assert tree.n_nodes == (b ** (tree.depth + 1) - 1) // (b - 1)
    # each article exactly one leaf, and the two maps invert each other
    assert np.unique(tree.leaf_of_article).size == n
    assert (tree.leaf_of_article >= tree.first_leaf).all()
    assert (tree.article_of_leaf[tree.leaf_of_article - tree.first_leaf] == np.arange(n)).all()
    assert (tree.article_of_leaf >= 0).sum() == n
    # paths: column l is on level l and is the parent of column l+1
    assert (tree.paths[:, 0] == 0).all()
    for level in range(tree.depth + 1):
        assert (tree.level_of(tree.paths[:, level]) == level).all()
    assert ((tree.paths[:, 1:] - 1) // b == tree.paths[:, :-1]).all()
    # valid = has an article below; children of a valid node: at least one valid
    empty_leaves = np.flatnonzero(tree.article_of_leaf < 0) + tree.first_leaf
    assert not tree.valid[empty_leaves].any()
    inner_valid = np.flatnonzero(tree.valid[: tree.first_leaf])
    assert tree.valid[tree.children(inner_valid)].any(axis=1).all()
    assert set(np.flatnonzero(tree.valid)) == set(tree.paths.ravel())


def balanced(tree: Tree) -> bool:
    """Sibling subtrees' article counts differ by at most one, everywhere."""
    counts = np.zeros(tree.n_nodes, dtype=np.int64)
    for level in range(tree.depth + 1):
        np.add.at(counts, tree.paths[:, level], 1)
    inner = np.arange(tree.first_leaf)
    kids = counts[tree.children(inner)]
    return bool((kids.max(1) - kids.min(1) <= 1).all())


def catalogue(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "article": np.arange(n, dtype=np.uint32),
            "index_group_name": rng.choice(["Ladieswear", "Menswear", "Baby"], n),
            "product_group_name": rng.choice(["Garment Upper body", "Shoes"], n),
            "product_type_no": rng.integers(0, 20, n),
            "product_code": rng.integers(100, 200, n),
        }
    )


@pytest.mark.parametrize(("n", "b"), [(1, 2), (2, 2), (7, 2), (8, 2), (9, 2), (1000, 2), (50, 3), (100, 4)])
def test_catalogue_tree_invariants(n: int, b: int) -> None:
    tree = catalogue_tree(catalogue(n), b)
    check_invariants(tree, n, b)
    assert balanced(tree)


def test_catalogue_tree_keeps_catalogue_neighbours_together() -> None:
    articles = catalogue(300)
    tree = catalogue_tree(articles, 2)
    order = articles.sort(["index_group_name", "product_group_name", "product_type_no", "product_code", "article"])[
        "article"
    ].to_numpy()
    assert (np.diff(tree.leaf_of_article[order]) > 0).all()  # leaves left to right follow the catalogue order


def test_empty_leaves_are_spread_not_piled_right() -> None:
    tree = catalogue_tree(catalogue(600), 2)  # 1024 leaves for 600 articles
    halves = tree.valid[tree.first_leaf :].reshape(2, -1).sum(1)
    assert abs(halves[0] - halves[1]) <= 1


def test_kmeans_tree_separates_clusters_and_stays_balanced() -> None:
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((4, 8)) * 10
    label = rng.permutation(np.repeat(np.arange(4), 64))
    tree = kmeans_tree(centres[label] + rng.standard_normal((256, 8)), 2, seed=0)
    check_invariants(tree, 256, 2)
    assert balanced(tree)
    # 4 equal clusters in a binary tree: each level-2 subtree holds exactly one cluster
    for node in tree.level_nodes(2):
        assert np.unique(label[tree.paths[:, 2] == node]).size == 1


def test_tree_saves_and_loads(tmp_path) -> None:
    tree = kmeans_tree(np.random.default_rng(0).standard_normal((77, 5)), 3)
    tree.save(tmp_path / "tree.npz")
    again = Tree.load(tmp_path / "tree.npz")
    assert (
        again.branching == 3
        and (again.leaf_of_article == tree.leaf_of_article).all()
        and (again.valid == tree.valid).all()
    )


def test_from_leaves_refuses_two_articles_on_one_leaf() -> None:
    with pytest.raises(ValueError):
        Tree.from_leaves(np.array([3, 3, 4]), 2)


def test_sampler_never_returns_an_ancestor_and_respects_levels() -> None:
    tree = catalogue_tree(catalogue(37), 2)  # 64 leaves, uneven
    sampler = LevelSampler(tree, torch.device("cpu"))
    torch.manual_seed(0)
    articles = torch.randint(0, 37, (500,))
    pos = sampler.positives(articles)
    neg, mask = sampler.negatives(pos, 9)
    assert pos.shape == (500, tree.depth) and neg.shape == (500, tree.depth, 9)
    assert (pos.numpy() == tree.paths[articles.numpy(), 1:]).all()
    levels = tree.level_of(neg.numpy().ravel()).reshape(neg.shape)
    assert (levels == np.arange(1, tree.depth + 1)[None, :, None]).all()
    assert tree.valid[neg.numpy()].all()
    assert not (neg == pos.unsqueeze(-1)).any()
    assert mask.all()  # every level of this tree has at least two valid nodes


def test_sampler_is_uniform_over_the_other_nodes_and_masks_single_node_levels() -> None:
    tree = catalogue_tree(catalogue(3), 2)  # depth 2: level 1 has 2 valid nodes, level 2 three leaves
    sampler = LevelSampler(tree, torch.device("cpu"))
    torch.manual_seed(0)
    pos = sampler.positives(torch.zeros(20_000, dtype=torch.long))
    neg, mask = sampler.negatives(pos, 1)
    leaves = neg[:, 1, 0].numpy()
    others = sorted(set(tree.level_nodes(2)) - {tree.leaf_of_article[0]})
    shares = np.array([(leaves == o).mean() for o in others])
    assert np.allclose(shares, 0.5, atol=0.02) and np.isin(leaves, others).all()
    one = catalogue_tree(catalogue(1), 2)  # a single article: no level has another node
    _, none = LevelSampler(one, torch.device("cpu")).negatives(torch.zeros((4, 1), dtype=torch.long) + 1, 3)
    assert not none.any()


def scorer(tree: Tree, n_articles: int, seed: int = 0, repeat: bool = False, prior: bool = False) -> NodeScorer:
    torch.manual_seed(seed)
    codes = torch.from_numpy(np.random.default_rng(seed).integers(1, 4, (n_articles + 1, 2)))
    codes[0] = 0
    customer_codes = torch.from_numpy(np.random.default_rng(seed).integers(0, 3, (50, 2)))
    shape = Shape(
        n_articles, tree.first_leaf, (4, 4), (3, 3), embedding_size=8, side_dim=4, attention_hidden=6, hidden=(16,)
    )
    levels = torch.from_numpy(tree.level_of(np.arange(tree.n_nodes))) if prior else None
    model = NodeScorer(shape, codes, customer_codes, torch.zeros(tree.n_nodes, dtype=torch.long), repeat, levels)
    install(model, tree)
    for p in model.parameters():  # random weights everywhere, so ties are unlikely
        torch.nn.init.normal_(p, std=0.5)
    return model.eval()


def batch(n_customers: int, n_articles: int, length: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(0, n_articles + 1, (n_customers, length), generator=g)
    items[0] = 0  # a customer without history
    ages = torch.randint(1, 200, (n_customers, length), generator=g) * (items > 0)
    return items, ages, torch.arange(n_customers), torch.zeros(n_customers, 0)


@pytest.mark.parametrize(("n", "b"), [(45, 2), (30, 3)])
def test_beam_as_wide_as_the_tree_equals_brute_force_top_k(n: int, b: int) -> None:
    tree = catalogue_tree(catalogue(n), b)
    model = scorer(tree, n)
    on = TreeOnDevice.of(tree, torch.device("cpu"))
    with torch.no_grad():
        enc = model.encode(*batch(12, n))
        leaves = on.level_nodes[tree.depth]
        brute_scores, pick = torch.topk(model.score(enc, leaves), 10, dim=1)
        found = beam_search(model, on, enc, beam=n, k=10)
        every = exhaustive(model, on, enc, k=10, chunk=7)
    assert torch.equal(found.leaves, leaves[pick]) and torch.equal(found.scores, brute_scores)
    assert torch.equal(every.leaves, leaves[pick]) and torch.allclose(every.scores, brute_scores, atol=1e-5)


def test_narrow_beam_scores_beam_times_b_per_level_and_returns_valid_distinct_leaves() -> None:
    n, b, beam = 300, 2, 8
    tree = catalogue_tree(catalogue(n), b)
    model = scorer(tree, n)
    on = TreeOnDevice.of(tree, torch.device("cpu"))
    with torch.no_grad():
        found = beam_search(model, on, model.encode(*batch(9, n)), beam=beam, k=beam)
    start = on.start_level(beam)
    assert on.level_nodes[start].numel() >= beam and (start == 0 or on.level_nodes[start - 1].numel() < beam)
    assert found.nodes_scored == on.level_nodes[start].numel() + (tree.depth - start) * beam * b
    leaves = found.leaves.numpy()
    assert tree.valid[leaves].all() and (leaves >= tree.first_leaf).all()
    assert all(np.unique(row).size == beam for row in leaves)
    assert torch.isfinite(found.scores).all() and (found.scores[:, :-1] >= found.scores[:, 1:]).all()


def test_the_repeat_term_adds_each_history_purchase_to_its_articles_leaf_only() -> None:
    """Scores with the term minus scores without it (same weights) are the term's bonus summed over
    the history positions holding each leaf's article, and 0 on inner nodes."""
    n = 40
    tree = catalogue_tree(catalogue(n), 2)
    model = scorer(tree, n, repeat=True)
    items, ages, who, dense = batch(8, n)
    nodes = torch.arange(tree.n_nodes)
    with torch.no_grad():
        enc = model.encode(items, ages, who, dense)
        bonus = model.score(enc, nodes) - model.score(dataclasses.replace(enc, repeat=None), nodes)
        weights = model.repeat.position_weights(items, ages)
    article = model.leaf_article[nodes]  # index + 1, 0 on inner nodes
    expected = ((items.unsqueeze(1) == article.view(1, -1, 1)) & (article > 0).view(1, -1, 1)).float()
    assert torch.allclose(bonus, (expected * weights.unsqueeze(1)).sum(-1), atol=1e-5)
    assert (bonus[:, : tree.first_leaf] == 0).all() and bonus[1:].abs().sum() > 0


def test_the_prior_adds_each_nodes_log_lift_over_its_levels_uniform_negatives() -> None:
    """A node's offset is log(its subtree's share of softmax(article offsets) x its level's valid
    nodes): the shares sum to 1 on every level, even sales give the leaves 0, and the leaves get
    log(share x articles); scoring adds the row's week's offset times its level's learned weight."""
    n = 40
    tree = catalogue_tree(catalogue(n), 3)
    by_article = torch.randn(2, n) * 2.0
    offsets = node_offsets(tree, by_article)
    for week in (0, 1):
        share = torch.softmax(by_article[week].double(), 0)
        for level in range(tree.depth + 1):
            ids = torch.from_numpy(tree.level_nodes(level))
            lift = offsets[week, ids].double().exp()
            assert torch.isclose(lift.sum() / ids.numel(), torch.tensor(1.0, dtype=torch.float64))
        leaves = torch.from_numpy(tree.leaf_of_article)
        torch.testing.assert_close(offsets[week, leaves].double(), torch.log(share * n), atol=1e-5, rtol=0)
    even = node_offsets(tree, torch.zeros(1, n))
    assert even[0, torch.from_numpy(tree.leaf_of_article)].abs().max() < 1e-5
    model = scorer(tree, n, prior=True)
    items, ages, who, dense = batch(6, n)
    nodes = torch.from_numpy(np.flatnonzero(tree.valid))
    week = torch.tensor([0, 1, 1, 0, 1, 0])
    with torch.no_grad():
        enc = model.encode(items, ages, who, dense)
        added = model.score(dataclasses.replace(enc, prior=(offsets, week)), nodes) - model.score(enc, nodes)
    weight = model.prior_scale.detach()[torch.from_numpy(tree.level_of(nodes.numpy()))]
    assert weight.unique().numel() == tree.depth + 1  # the random weights differ by level
    torch.testing.assert_close(added, offsets[week][:, nodes] * weight, atol=1e-4, rtol=0)


def test_with_the_repeat_term_beam_search_scores_the_customers_own_leaves_once() -> None:
    """A beam of 2 over 300 articles reaches few leaves; a large repeat weight puts every article of
    the customer's history (on sale) first, each once, whatever the inner nodes led to."""
    n, beam = 300, 2
    tree = catalogue_tree(catalogue(n), 2)
    model = scorer(tree, n, repeat=True)
    with torch.no_grad():
        model.repeat.weight.fill_(1e3)
    items, ages, who, dense = batch(9, n)
    items[1] = torch.tensor([5, 5, 17, 0, 250, 17])  # repeats and padding
    on_sale = np.setdiff1d(np.arange(n), [249])  # article index 249 (item 250) is not on sale
    on = TreeOnDevice.of(tree, torch.device("cpu"), on_sale)
    with torch.no_grad():
        found = beam_search(model, on, model.encode(items, ages, who, dense), beam=beam, k=beam * 2 + 6)
    got = tree.article_of_leaf[found.leaves.numpy() - tree.first_leaf]
    assert set(got[1][:2]) == {4, 16} and 249 not in got[1]
    for row, history, scores in zip(got, items.numpy(), found.scores.numpy(), strict=True):
        own = {a - 1 for a in history if a > 0 and a - 1 in on_sale}
        row = row[np.isfinite(scores)]
        assert set(row[: len(own)]) == own and np.unique(row).size == row.size > len(own)


def test_scores_are_not_an_inner_product_of_a_customer_and_a_node_vector() -> None:
    """The history pooling depends on the node: two customers' score differences change across nodes."""
    n = 40
    tree = catalogue_tree(catalogue(n), 2)
    model = scorer(tree, n)
    with torch.no_grad():
        scores = model.score(model.encode(*batch(30, n)), torch.from_numpy(tree.level_nodes(tree.depth)))
    # an inner-product scorer gives a score matrix of rank <= embedding size + 1 (bias)
    assert torch.linalg.matrix_rank(scores.double(), atol=1e-6) > model.shape.embedding_size + 1


def test_install_sets_leaves_and_inner_nodes_to_their_subtree_means() -> None:
    n = 20
    tree = catalogue_tree(catalogue(n), 2)
    model = scorer(tree, n)
    install(model, tree)
    leaf = int(tree.leaf_of_article[5])
    assert int(model.leaf_article[leaf]) == 6 and int(model.leaf_article[: tree.first_leaf].abs().sum()) == 0
    with torch.no_grad():
        vectors = model.article_vectors(torch.arange(1, n + 1))
        node = int(tree.paths[5, 2])
        below = torch.from_numpy(tree.paths[:, 2] == node)
        assert torch.allclose(model.inner.weight[node], vectors[below].mean(0), atol=1e-6)
        assert torch.allclose(model.node_vectors(torch.tensor([leaf])), vectors[5:6])
    assert level_start(tree.depth, 2) == tree.first_leaf


def test_install_can_keep_the_learned_inner_nodes() -> None:
    n = 20
    tree = catalogue_tree(catalogue(n), 2)
    model = scorer(tree, n)
    before = model.inner.weight.detach().clone()
    moved = Tree.from_leaves(tree.leaf_of_article[np.random.default_rng(0).permutation(n)], 2)
    install(model, moved, keep_inner=True)
    assert torch.equal(model.inner.weight, before) and int(model.leaf_article[int(moved.leaf_of_article[3])]) == 4


def test_deferred_acceptance_fills_nodes_by_regret_and_never_beyond_their_room() -> None:
    room = np.array([0, 2, 1])
    candidates = np.array([[1, 2]] * 3)
    # article 2 loses most by missing node 1 (regret 9.5), then article 0 (5); article 1 (1) moves on
    weights = np.array([[0.0, -5.0], [0.0, -1.0], [-0.5, -10.0]])
    assert _deferred_acceptance(candidates, weights, room).tolist() == [1, 2, 1]
    assert room.tolist() == [0, 0, 0]


def log_likelihood(model: NodeScorer, tree: Tree, enc, articles: torch.Tensor) -> float:
    """Sum over purchases of the log-probabilities of the bought article's inner ancestors below the root."""
    paths = torch.from_numpy(tree.paths[:, 1 : tree.depth])[articles]
    with torch.no_grad():
        return float(torch.nn.functional.logsigmoid(model.score(enc, paths)).sum())


@pytest.mark.parametrize(("n", "b", "gap"), [(64, 2, 3), (90, 2, 7), (50, 3, 2)])
def test_greedy_tree_learning_keeps_the_shape_and_raises_the_models_likelihood(n: int, b: int, gap: int) -> None:
    tree = catalogue_tree(catalogue(n), b)
    model = scorer(tree, n)
    customers = 40
    items, ages, who, dense = batch(customers, n, seed=1)
    users = {"items": items, "age_days": ages, "customer": who, "dense": dense}
    rows = torch.arange(customers).repeat(3)
    articles = torch.from_numpy(
        np.random.default_rng(2).integers(0, n - 5, rows.numel())
    )  # the last 5 articles: no votes
    learned = reassigned_tree(model, tree, users, rows, articles, gap)
    check_invariants(learned, n, b)
    assert np.array_equal(np.sort(learned.leaf_of_article), np.sort(tree.leaf_of_article))  # same occupied leaves
    enc = model.encode(items[rows], ages[rows], who[rows], dense[rows])
    assert log_likelihood(model, learned, enc, articles) > log_likelihood(model, tree, enc, articles) + 1.0


def test_sample_votes_takes_at_most_n_purchases_per_article_with_the_seed() -> None:
    pair_article = np.array([0, 0, 0, 1, 2, 2, 0, 1])
    pairs = np.arange(8)
    votes = sample_votes(pair_article, pairs, 2, seed=0)
    assert np.bincount(pair_article[votes]).tolist() == [2, 2, 2]
    assert np.array_equal(votes, sample_votes(pair_article, pairs, 2, seed=0))
