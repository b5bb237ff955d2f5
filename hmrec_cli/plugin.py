"""Everything a plugin author may import, in one place: `from hmrec_cli.plugin import Retriever, Context, ...`.

The contract (`plugin_api`), the parameter declarations (`params`), and the toolkit the built-in plugins build on
(features, sequences, interaction matrices, nearest neighbours, merge's fusion, the torch training
loop). Names load on first use, from the module that defines them, so a plugin that takes only the
contract does not import torch (`hmrec plugins` lists such plugins without loading a framework).
A name not listed here is hmrec's own and may move; docs/plugin-contract.md says what each is for.
"""

from __future__ import annotations

import importlib

# Where each name lives; a test checks that every name the built-in plugins import is here.
_HOMES = {
    "hmrec_cli.plugin_api": (
        "CANDIDATE_SCHEMA",
        "Context",
        "NoParams",
        "Plugin",
        "Ranker",
        "RankingWeek",
        "Retriever",
        "RunSettings",
        "fill_cold",
        "recency_weight",
        "recent_popularity",
        "top_k",
    ),
    "hmrec_cli.params": (
        "MAX_DAYS",
        "MAX_WIDTH",
        "Above",
        "AtLeast",
        "AtMost",
        "Between",
        "Choice",
        "LogUniform",
        "OneOf",
        "Uniform",
        "Widths",
        "param",
    ),
    "hmrec_cli.errors": ("InputError",),
    "hmrec_cli.toolkit.data_parallel": ("leads",),
    "hmrec_cli.atomic": ("atomic_file",),
    "hmrec_cli.metrics": ("K", "ManyOrders"),
    "hmrec_cli.data.splits": ("Week", "recent_history", "repeat_share"),
    "hmrec_cli.toolkit.ann": ("AnnIndex", "candidate_frame", "exact_top_k", "top_k_on_device"),
    "hmrec_cli.toolkit.batches": (
        "MIN_BATCH",
        "id_frequency",
        "predict_in_batches",
        "scaled_batch",
        "shuffled_batches",
        "to_device",
    ),
    "hmrec_cli.toolkit.candidate_features": ("candidate_features", "dense_names"),
    "hmrec_cli.toolkit.features": (
        "PRICE_BANDS",
        "WeekActivity",
        "article_codes",
        "article_side_table",
        "customer_codes",
        "recent_sales",
        "unsold_articles",
    ),
    "hmrec_cli.toolkit.fitted_retriever": ("FittedRetriever",),
    "hmrec_cli.toolkit.fusion": (
        "PASSES",
        "TUNE_CUSTOMERS",
        "Fusion",
        "ap_differences",
        "buyers_with_a_hit",
        "halves_with_a_hit",
        "pooled_gain",
        "rolling_weeks",
        "learned_gain",
        "scored_top",
        "tune",
    ),
    "hmrec_cli.toolkit.interactions": ("interaction_matrix", "keep_top_per_row", "top_k_rows"),
    "hmrec_cli.toolkit.sequences": ("purchase_sequences",),
    "hmrec_cli.toolkit.tower_params": ("TowerParams",),
    "hmrec_cli.toolkit.towers": (
        "AGE_BUCKETS",
        "ArticleEncoder",
        "PopularityPrior",
        "RepeatTerm",
        "Shape",
        "UserTower",
        "age_buckets",
        "nothing_to_learn",
        "repeat_pairs",
        "subtree_mass",
        "tower_shape",
        "user_vectors",
        "week_offsets",
    ),
    "hmrec_cli.toolkit.training": ("Settings", "resolve_device", "train"),
    "hmrec_cli.toolkit.weekly_examples": ("USER_DENSE", "UserInputs", "user_inputs", "weekly_examples"),
}
MODULES = {"console": "hmrec_cli.console"}  # whole modules: console.warn, console.step, ...
HOME = {name: module for module, names in _HOMES.items() for name in names} | MODULES
__all__ = sorted(HOME)


def __getattr__(name: str):
    """Import `name` from its home on first use (PEP 562), then keep it here."""
    if name not in HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(HOME[name])
    value = module if name in MODULES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
