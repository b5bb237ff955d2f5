"""`hsoftmax`: the YouTube-DNN user tower with a hierarchical softmax over a tree of the catalogue.

The probability of an article is a product of small softmaxes down a tree (`-o tree=catalogue`:
index group -> product group -> product type -> product code -> article, wide nodes split into
balanced levels of at most `max_branching` children; `-o tree=huffman`: a binary Huffman tree by
sales before the week, frequent articles near the root). Training cost per purchase grows with
the depth of its leaf, not with the catalogue; retrieval is a beam search down the tree keeping
`beam` nodes per depth, and the leaves it reaches are scored by their exact log-probability.
Tree in tree.py, model in model.py, training in fitting.py (torch loads only when fitted).
"""

from __future__ import annotations

from dataclasses import dataclass

from hmrec_cli.params import Between, OneOf, param
from hmrec_cli.toolkit.fitted_retriever import FittedRetriever
from hmrec_cli.toolkit.tower_params import TowerParams


@dataclass(frozen=True)
class HSoftmaxParams(TowerParams):
    tree: str = param(
        "catalogue",
        "catalogue (index group > product group > type > product > article) or huffman (binary, by sales)",
        valid=OneOf("catalogue", "huffman"),
    )
    max_branching: int = param(
        32, "tree=catalogue: a node with more children gets balanced intermediate levels", valid=Between(2, 4096)
    )
    beam: int = param(100, "nodes kept per depth in the beam search (at least k are kept)", valid=Between(1, 100_000))
    repeat_term: bool = param(
        True,
        "mix the tree's softmax with a softmax over the customer's own recent purchases (one learned weight per "
        "purchase age; the share of each learned from the user vector), so articles bought again can rank first",
    )
    popularity_prior: bool = param(
        True,
        "tilt every softmax of the tree by the sales of the leaves below each child in the 7 days before the "
        "week (the youtube-dnn prior, fitted first, then fixed), so the tree learns a residual on this week's "
        "best sellers and beam search follows them",
    )


class HSoftmax(FittedRetriever):
    name = "hsoftmax"
    version = "7"
    summary = "YouTube-DNN user tower, hierarchical softmax over a catalogue or Huffman tree; beam search"
    Params = HSoftmaxParams

    def make_fitted(self):
        from hmrec_plugins.hsoftmax.fitting import Fitted

        return Fitted(self.params)
