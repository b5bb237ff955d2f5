"""The hierarchical softmax over a Tree: every non-root node has a vector and a bias; the
probability of a child given its parent is the softmax over the parent's children of
user . vector + bias, and an article's probability is the product along its path.

Training touches only the siblings along each purchase's path (cost grows with depth, not with
the catalogue); retrieval is a beam search down the tree, vectorised over customers: ragged
frontiers are flat (row, node, log-probability) tensors, never a Python loop per customer or node.

With the repeat term the model is a repeat-explore mixture (RepeatNet, Ren et al., 2019): P(a) =
(1 - g) P_tree(a) + g P_own(a), where P_own spreads over the customer's own recent purchases by a
learned weight per purchase age and the gate g comes from the user vector. A tree's softmaxes
cannot take an additive bonus on some leaves and stay normalised; a mixture can, and the gate
learns how much of a week repeats (near 0 where nobody rebuys).

With the popularity prior every child's logit gets a fixed offset: the log of the summed
exp(PopularityPrior offset) of the leaves below it (`node_offsets`). With zero logits the tree is
then exactly the prior (the product down a path telescopes to exp(offset of the leaf) / their
sum), so the learned logits are a residual on this week's best sellers, the softmaxes stay
normalised, and beam search is steered by the offsets as much as by the model.
"""

from __future__ import annotations

import torch
from torch import nn

from hmrec_cli.toolkit.towers import AGE_BUCKETS, Shape, UserTower, age_buckets, subtree_mass

Tilt = tuple[torch.Tensor, torch.Tensor]  # the prior's node offsets [weeks, nodes], and each row's week

GATE_START = -3.0  # the gate's starting logit: the mixture starts close to the tree alone (g ~ 0.05)


class TreeTensors(nn.Module):
    """A Tree's arrays as buffers on the model's device (saved with it)."""

    def __init__(self, arrays: dict):
        super().__init__()
        for name, values in arrays.items():
            self.register_buffer(name, torch.as_tensor(values, dtype=torch.long))


class RepeatMixture(nn.Module):
    """The repeat half of the mixture: log g and log(1 - g) from the user vector, and P_own of an
    article (a softmax over the history positions of one weight per purchase age, summed over the
    positions holding the article; 0 when the customer never bought it)."""

    def __init__(self, embedding_size: int):
        super().__init__()
        self.age_weight = nn.Parameter(torch.zeros(AGE_BUCKETS))
        self.gate = nn.Linear(embedding_size, 1)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, GATE_START)

    def log_gates(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[n] log g and log(1 - g); g = 0 for a customer without history (P_own has no mass there)."""
        # row by row, not a matrix product, whose rounding depends on how many rows come at once (shards)
        logit = (users.float() * self.gate.weight.float()).sum(-1) + self.gate.bias.float()
        bought = (items > 0).any(1)
        return (
            torch.where(bought, nn.functional.logsigmoid(logit), -torch.inf),
            torch.where(bought, nn.functional.logsigmoid(-logit), 0.0),
        )

    def own_shares(self, items: torch.Tensor, age_days: torch.Tensor) -> torch.Tensor:
        """[n, L] P_own of each history position (0 on padding, and everywhere for a row without history)."""
        padding = items == 0
        empty = padding.all(1, keepdim=True)  # a softmax over no position would be nan
        weights = self.age_weight[age_buckets(items, age_days)].masked_fill(padding & ~empty, -torch.inf)
        return torch.softmax(weights, dim=1).masked_fill(padding, 0.0)

    def own_of(self, items: torch.Tensor, age_days: torch.Tensor, articles: torch.Tensor) -> torch.Tensor:
        """[n] P_own of each row's article (article indexes; 0 where not in the row's history)."""
        return (self.own_shares(items, age_days) * (items - 1 == articles.unsqueeze(1))).sum(1)


class HierarchicalSoftmax(nn.Module):
    def __init__(
        self,
        shape: Shape,
        article_codes: torch.Tensor,
        customer_codes: torch.Tensor,
        tree: dict,
        repeat: bool = False,
    ):
        super().__init__()
        self.user = UserTower(shape, article_codes, customer_codes)
        self.tree = TreeTensors(tree)
        nodes = self.tree.parent.shape[0]
        self.node_vectors = nn.Parameter(torch.randn(nodes, shape.embedding_size) * 0.05)
        self.node_bias = nn.Parameter(torch.zeros(nodes))
        self.repeat = RepeatMixture(shape.embedding_size) if repeat else None

    def _segment_log_softmax(self, logits: torch.Tensor, segment: torch.Tensor, segments: int) -> torch.Tensor:
        """log softmax of `logits` within each segment (flat, segment ids 0..segments-1)."""
        top = torch.full((segments,), -torch.inf, device=logits.device).scatter_reduce(
            0, segment, logits.detach(), "amax"
        )
        sums = torch.zeros(segments, device=logits.device).index_add(0, segment, torch.exp(logits - top[segment]))
        return logits - (torch.log(sums) + top)[segment]

    def _children(self, parents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """All children of each of `parents` (flat): (which parent entry, child node)."""
        counts = self.tree.child_count[parents]
        entry = torch.repeat_interleave(torch.arange(parents.shape[0], device=parents.device), counts)
        first = torch.cumsum(counts, 0) - counts
        child = (
            self.tree.child_start[parents][entry] + torch.arange(entry.shape[0], device=parents.device) - first[entry]
        )
        return entry, child

    def node_offsets(self, article_offsets: torch.Tensor) -> torch.Tensor:
        """[weeks, nodes] the popularity prior's offset of every node: log of the summed
        exp(offset) of the leaves below it, from `article_offsets` [weeks, articles]."""
        top = article_offsets.double().amax(1, keepdim=True)  # exp of the offsets minus their week's largest
        mass = subtree_mass(self.tree.path, self.tree.parent.shape[0], torch.exp(article_offsets.double() - top))
        offsets = (torch.log(mass) + top).float()
        offsets[:, 0] = 0.0  # the root is nobody's child: no leaf path lists it
        return offsets

    def _logits(self, users: torch.Tensor, rows: torch.Tensor, nodes: torch.Tensor, tilt: Tilt | None) -> torch.Tensor:
        logits = (users[rows].float() * self.node_vectors[nodes].float()).sum(-1) + self.node_bias[nodes].float()
        if tilt is None:
            return logits
        offsets, week = tilt
        return logits + offsets[week[rows], nodes]

    def _path_steps(
        self, users: torch.Tensor, articles: torch.Tensor, tilt: Tilt | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per step of each article's path: its row and the log softmax of the path's node among
        its siblings (`tilt`: the prior's node offsets [weeks, nodes] and each row's week)."""
        path = self.tree.path[articles]  # [B, depth]
        rows, column = torch.nonzero(path >= 0, as_tuple=True)
        step_node = path[rows, column]
        entry, sibling = self._children(self.tree.parent[step_node])
        logits = self._logits(users, rows[entry], sibling, tilt)
        log_p = self._segment_log_softmax(logits, entry, step_node.shape[0])
        return rows, log_p[sibling == step_node[entry]]

    def tree_log_probs(self, users: torch.Tensor, articles: torch.Tensor, tilt: Tilt | None = None) -> torch.Tensor:
        """[B] log P_tree(article | user) of each row's article."""
        rows, steps = self._path_steps(users, articles, tilt)
        return torch.zeros(articles.shape[0], device=steps.device).index_add(0, rows, steps)

    def loss(
        self,
        users: torch.Tensor,
        articles: torch.Tensor,
        items: torch.Tensor | None = None,
        age_days: torch.Tensor | None = None,
        tilt: Tilt | None = None,
    ) -> torch.Tensor:
        """Mean over the batch of -log P(article | user): the tree's, or the mixture's with the
        repeat term (`items`, `age_days`: each row's history; `tilt`: the prior's offsets)."""
        if self.repeat is None:
            return -self._path_steps(users, articles, tilt)[1].sum() / articles.shape[0]
        log_gate, log_rest = self.repeat.log_gates(users, items)
        explore = log_rest + self.tree_log_probs(users, articles, tilt)
        own = self.repeat.own_of(items, age_days, articles)
        safe = torch.log(own.clamp_min(1e-30))  # finite on both branches, so where() passes no nan gradient
        return -torch.where(own > 0, torch.logaddexp(explore, log_gate + safe), explore).mean()

    def node_log_probs(self, users: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        """[n, nodes]: log P(node | parent, user) of every non-root node (root: 0); `offsets`:
        the serving week's node offsets [nodes]."""
        logits = users.float() @ self.node_vectors.float().T + self.node_bias.float()
        if offsets is not None:
            logits = logits + offsets
        logits[:, 0] = -torch.inf  # the root is nobody's child: out of its children's softmax
        parent = self.tree.parent.clamp(min=0).expand_as(logits)
        top = torch.full_like(logits, -torch.inf).scatter_reduce(1, parent, logits, "amax")
        sums = torch.zeros_like(logits).scatter_add(1, parent, torch.exp(logits - top.gather(1, parent)))
        out = logits - (torch.log(sums) + top).gather(1, parent)
        out[:, 0] = 0.0
        return out

    def leaf_log_probs(self, users: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        """[n, articles]: exact log P(article | user) of every article (brute force: the reference
        for beam search, and the scores of the leaves it reaches)."""
        per_node = self.node_log_probs(users, offsets)
        path = self.tree.path
        gathered = per_node[:, path.clamp(min=0).flatten()].reshape(users.shape[0], *path.shape)
        return (gathered * (path >= 0)).sum(-1)

    def _children_logits(
        self, users: torch.Tensor, children: torch.Tensor, offsets: torch.Tensor | None
    ) -> torch.Tensor:
        """Logits of `children` [rows, width, widest] for each row's user. Gathering each child's
        vector costs width x widest vectors per user; one product with every node's vector costs
        all nodes but runs as a dense matrix product, several times faster per node, so it is
        used while the tree is small next to the frontier."""
        nodes = self.node_vectors.shape[0]
        if nodes <= 8 * children.shape[1] * children.shape[2]:
            every = users.float() @ self.node_vectors.float().T + self.node_bias.float()
            logits = every.gather(1, children.flatten(1)).view(children.shape)
        else:
            logits = (
                torch.einsum("re,rwce->rwc", users.float(), self.node_vectors[children].float())
                + self.node_bias[children].float()
            )
        return logits if offsets is None else logits + offsets[children]

    def beam_search(
        self,
        users: torch.Tensor,
        k: int,
        beam: int,
        allowed: torch.Tensor | None = None,
        offsets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top k leaves per user by beam search: from the root, keep the `beam` inner nodes of
        highest path log-probability per user at each depth, expand all their children, and
        keep the k best leaves reached so far, each with its exact log-probability. `allowed`
        (bool [nodes]): subtrees without an allowed leaf are never entered; `offsets`: the serving
        week's node offsets [nodes] (the popularity prior). Dense per user:
        [users, beam, widest] children per depth, padding scored -inf. Returns flat (row,
        article, log-probability), best first per row; a row may have fewer than k."""
        rows, device = users.shape[0], users.device
        widest = int(self.tree.child_count.max())
        slot = torch.arange(widest, device=device)
        frontier = torch.zeros(rows, 1, dtype=torch.long, device=device)  # the root
        frontier_log_p = torch.zeros(rows, 1, device=device)
        best_nodes = torch.zeros(rows, 0, dtype=torch.long, device=device)
        best_log_p = torch.zeros(rows, 0, device=device)
        while frontier.shape[1]:  # a depth that reached no inner node leaves an empty frontier
            counts = self.tree.child_count[frontier]
            real = (slot < counts.unsqueeze(-1)) & torch.isfinite(frontier_log_p).unsqueeze(-1)  # [rows, width, widest]
            children = torch.where(real, self.tree.child_start[frontier].unsqueeze(-1) + slot, 0)
            logits = self._children_logits(users, children, offsets)
            log_p = frontier_log_p.unsqueeze(-1) + torch.log_softmax(logits.masked_fill(~real, -torch.inf), dim=-1)
            log_p = log_p.masked_fill(~real, -torch.inf).flatten(1)
            children = children.flatten(1)
            if allowed is not None:
                log_p = log_p.masked_fill(~allowed[children], -torch.inf)
            leaf = self.tree.child_count[children] == 0
            pool_nodes = torch.cat([best_nodes, children], dim=1)
            pool_log_p = torch.cat([best_log_p, log_p.masked_fill(~leaf, -torch.inf)], dim=1)
            best_log_p, where = torch.topk(pool_log_p, min(k, pool_log_p.shape[1]), dim=1)
            best_nodes = pool_nodes.gather(1, where)
            inner = log_p.masked_fill(leaf, -torch.inf)
            reached = int(torch.isfinite(inner).sum(1).max())  # the rest is padding: never widen the beam with it
            frontier_log_p, where = torch.topk(inner, min(beam, reached), dim=1)
            frontier = children.gather(1, where)
        found = torch.isfinite(best_log_p)
        row = torch.arange(rows, device=device).unsqueeze(1).expand_as(best_nodes)
        return row[found], self.tree.article_of[best_nodes[found]], best_log_p[found]
