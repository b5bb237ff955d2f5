"""The DIN network itself: the local activation unit is the paper's, and padding never counts."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hmrec_plugins.din.model import AGE_BUCKETS, DIN, Dice, Shape

ARTICLES = 30


def _model(history: str = "attention") -> DIN:
    torch.manual_seed(0)
    shape = Shape(
        articles=ARTICLES + 1,
        article_fields=(4, 3),
        customer_fields=(5,),
        price_bands=11,
        dense=3,
        id_dim=6,
        side_dim=4,
        attention_hidden=7,
        hidden=(9,),
        history=history,
    )
    codes = torch.randint(0, 3, (ARTICLES + 1, 2))
    codes[0] = 0
    model = DIN(shape, codes, torch.randint(0, 5, (10, 1)))
    for module in model.modules():  # non-trivial Dice: running statistics and slopes
        if isinstance(module, Dice):
            module.norm.running_mean.uniform_(-0.5, 0.5)
            module.norm.running_var.uniform_(0.5, 2.0)
            torch.nn.init.uniform_(module.alpha, 0.1, 0.5)
    torch.nn.init.normal_(model.head[-1].weight)  # the deep part's output starts at zero (wide & deep); as if trained
    return model.eval()


def test_wide_and_deep_starts_at_the_prior_and_the_deep_part_grows_from_zero() -> None:
    """Untrained, the score is the given prior (merge's order): the wide part and the network's
    output layer start at zero; once the wide part moves, the network still adds nothing."""
    torch.manual_seed(0)
    shape = Shape(
        articles=ARTICLES + 1,
        article_fields=(4, 3),
        customer_fields=(5,),
        price_bands=11,
        dense=3,
        id_dim=6,
        side_dim=4,
        attention_hidden=7,
        hidden=(9,),
    )
    codes = torch.randint(0, 3, (ARTICLES + 1, 2))
    model = DIN(shape, codes, torch.randint(0, 5, (10, 1))).eval()
    b = _batch()
    prior = torch.randn(b["article"].shape[0])
    torch.testing.assert_close(model(**b, prior=prior), prior)
    torch.nn.init.normal_(model.wide.weight)
    torch.testing.assert_close(model(**b), model.wide(b["dense"]).squeeze(-1))
    narrow = DIN(replace(shape, wide=False), codes, torch.randint(0, 5, (10, 1)))
    assert narrow.wide is None and narrow.head[-1].weight.abs().sum() > 0


def test_dense_features_past_the_clip_score_as_at_its_edge() -> None:
    """A feature far outside the training rows (a promotion's sales, 27 standard deviations out on
    Ta-Feng) scores as one at the clip: neither the wide part nor the network extrapolates past it.
    Unclipped, the same weights score it otherwise."""
    model = _model()
    torch.nn.init.normal_(model.wide.weight)
    b = _batch()
    far, edge = ({**b, "dense": b["dense"].clone()} for _ in range(2))
    far["dense"][:, 0], edge["dense"][:, 0] = 27.0, model.shape.dense_clip
    with torch.no_grad():
        torch.testing.assert_close(model(**far), model(**edge))
        unclipped = DIN(replace(model.shape, dense_clip=0.0), model.article_codes, model.customer_codes)
        unclipped.load_state_dict(model.state_dict())
        assert not torch.allclose(unclipped.eval()(**far), model(**far))


def _batch(length: int = 5, batch: int = 8):
    g = torch.Generator().manual_seed(1)
    history = torch.randint(1, ARTICLES + 1, (batch, length), generator=g)
    lengths = torch.randint(0, length + 1, (batch,), generator=g)
    mask = torch.arange(length) < lengths.unsqueeze(1)
    history = torch.where(mask, history, 0)
    age = torch.where(mask, torch.randint(1, 400, (batch, length), generator=g), 0)
    return dict(
        article=torch.randint(1, ARTICLES + 1, (batch,), generator=g),
        customer=torch.randint(0, 10, (batch,), generator=g),
        history=history,
        age_days=age,
        mask=mask,
        price_band=torch.randint(0, 11, (batch,), generator=g),
        dense=torch.randn(batch, 3, generator=g),
    )


def test_activation_unit_is_an_mlp_over_history_candidate_difference_product_and_age() -> None:
    model, b = _model(), _batch()
    table = model.item_vectors(torch.arange(ARTICLES + 1))
    items, query = table[b["history"]], table[b["article"]].unsqueeze(1).expand(-1, b["history"].shape[1], -1)
    bucket = torch.where(
        b["mask"], torch.log2(b["age_days"].clamp(min=1).float()).long().clamp(max=AGE_BUCKETS - 2) + 1, 0
    )
    unit_in = torch.cat([items, query, items - query, items * query, model.age(bucket)], dim=-1)
    weights = model.attention(unit_in) * b["mask"].unsqueeze(-1)  # the paper's form, no softmax
    expected = (weights * items).sum(1)
    got = model.interest(table, table[b["article"]], b["history"], b["age_days"], b["mask"])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("training", [False, True])
def test_padding_never_changes_a_score(training: bool) -> None:
    """Also in training mode: padding stays out of the batch statistics of Dice."""
    model, b = _model(), _batch()
    model.train(training)
    base = model(**b)
    garbage = dict(b)
    garbage["history"] = torch.where(b["mask"], b["history"], torch.randint(1, ARTICLES + 1, b["history"].shape))
    garbage["age_days"] = torch.where(b["mask"], b["age_days"], 77)
    torch.testing.assert_close(model(**garbage), base)
    longer = dict(b)  # three more padding columns
    longer["history"] = torch.cat([b["history"], torch.randint(1, ARTICLES + 1, (8, 3))], dim=1)
    longer["age_days"] = torch.cat([b["age_days"], torch.full((8, 3), 5)], dim=1)
    longer["mask"] = torch.cat([b["mask"], torch.zeros(8, 3, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(model(**longer), base)


def test_the_history_changes_the_score_unless_the_model_is_history_blind() -> None:
    b = _batch()
    other = dict(b, history=torch.where(b["mask"], (b["history"] % ARTICLES) + 1, 0))
    assert not torch.allclose(_model()(**b), _model()(**other))
    blind = _model("none")
    torch.testing.assert_close(blind(**b), blind(**other))
