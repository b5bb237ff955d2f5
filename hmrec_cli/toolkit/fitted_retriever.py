"""The face of a retriever whose model needs torch (youtube-dnn, sampled-softmax, hsoftmax, tdm).

`hmrec plugins` and `hmrec --help` load every plugin's class and must not import torch, so such a
plugin's class holds only its name and parameters; its training and serving live in a module of
its own, imported by `make_fitted` when a model is fitted. This class is that face, once.
"""

from __future__ import annotations

from abc import abstractmethod

import polars as pl

from hmrec_cli.plugin_api import Context, Retriever, RunSettings


class FittedRetriever(Retriever):
    """A retriever that hands `fit` and `retrieve` to an object `make_fitted()` builds on each fit."""

    uses_device = True

    @abstractmethod
    def make_fitted(self):
        """A new, unfitted model for `self.params`, with `fit(ctx, run) -> dict` and
        `retrieve(customers, k)`; imports the plugin's torch module (so only when fitting)."""

    def fit(self, ctx: Context, run: RunSettings) -> dict:
        self.fitted = self.make_fitted()
        return self.fitted.fit(ctx, run)

    def retrieve(self, customers: pl.Series, k: int) -> pl.DataFrame:
        return self.fitted.retrieve(customers, k)
