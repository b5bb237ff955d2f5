"""`youtube-dnn` and `sampled-softmax`: two-tower retrievers trained on next week's purchases.

Both share the user tower (Covington et al., 2016): the customer's recent purchases pooled (a
time-decayed mean, or a target-free attention pool) beside customer features (age band, club
status, news frequency, activity and channel share at the cut) through an MLP to a user vector.
They differ in the article side and the loss:

- `youtube-dnn`: one output embedding (and bias) per article, cross-entropy over the *full*
  catalogue; the paper's "pure baseline".
- `sampled-softmax`: an item tower over the article id and its side features (product type and
  group, index group, colour, department, garment group, price band); softmax over the batch's
  own targets plus negatives drawn by popularity, each logit corrected by the log of its sampling
  probability (logQ, Yi et al., 2019; `-o logq=false` is the ablation). Serving by exact search
  or `-o search=annoy`.

Trained on the `weeks` weeks before the target week, more on a small log (`min_purchases`;
hmrec_cli.toolkit.weekly_examples): every example is a buyer's history cut at a week's start and
one article they bought that week. Every logit carries a fixed popularity prior from the
article's sales in the 7 days before the week, fitted before the towers train
(hmrec_cli.toolkit.towers.PopularityPrior), so the towers learn what popularity does not
explain. Retrieval is the exact top k of user vector x article matrix (hmrec_cli.toolkit.ann),
among articles sold in the last `sold_within_days` days. Torch loads only when a model is fitted (`hmrec plugins` stays light).
"""

from __future__ import annotations

from dataclasses import dataclass

from hmrec_cli.params import Between, OneOf, param
from hmrec_cli.toolkit.fitted_retriever import FittedRetriever
from hmrec_cli.toolkit.tower_params import TowerParams


@dataclass(frozen=True)
class YouTubeDNNParams(TowerParams):
    """The shared user-tower parameters; the article side is one output embedding per article."""

    softmax: str = param(
        "sold",
        "the softmax's articles: sold (those bought in the training weeks or proposable by sold_within_days; the rest get no positive and are never proposed) or all (the whole catalogue; a step costs more with every article)",
        valid=OneOf("sold", "all"),
    )
    repeat_term: bool = param(
        True,
        "add a learned bonus (one weight per purchase age) to the articles in the customer's own history, "
        "so articles bought again can rank first",
    )
    popularity_prior: bool = param(
        True,
        "add a fixed offset to every article's logit from its sales in the 7 days before the week "
        "(fitted by maximum likelihood on the training weeks before the towers train), so they learn what popularity does not explain",
    )


@dataclass(frozen=True)
class SampledSoftmaxParams(TowerParams):
    negatives: int = param(
        1024,
        "negatives drawn by popularity per step, shared by the batch (beside the batch's own targets)",
        valid=Between(0, 100_000),
    )
    logq: bool = param(
        True, "subtract the log of each article's sampling probability from its logit (false: the ablation)"
    )
    search: str = param(
        "exact", "exact (brute force on the device) or annoy (approximate index)", valid=OneOf("exact", "annoy")
    )
    trees: int = param(
        50, "trees of the annoy index (search=annoy): more find neighbours better, build slower", valid=Between(1, 1000)
    )
    repeat_term: bool = param(
        True,
        "add a learned bonus (one weight per purchase age) to the articles in the customer's own history, "
        "so articles bought again can rank first (with search=annoy: the index's neighbours and the customer's own articles, rescored)",
    )
    popularity_prior: bool = param(
        True,
        "add a fixed offset to every article's logit from its sales in the 7 days before the week "
        "(fitted by maximum likelihood on the training weeks before the towers train), so they learn what popularity does not explain",
    )


class _TwoTower(FittedRetriever):
    loss = ""  # "full" or "sampled": which article side and loss `fitting.Fitted` builds

    def make_fitted(self):
        from hmrec_plugins.two_tower.fitting import Fitted

        return Fitted(self.params, self.loss)


class YouTubeDNN(_TwoTower):
    name = "youtube-dnn"
    version = "5"
    summary = "YouTube DNN: pooled history + customer features -> user vector; full softmax over the catalogue"
    Params = YouTubeDNNParams
    loss = "full"


class SampledSoftmax(_TwoTower):
    name = "sampled-softmax"
    version = "5"
    summary = "Two towers (history + customer | article + side features); in-batch + popularity negatives with logQ"
    Params = SampledSoftmaxParams
    loss = "sampled"
