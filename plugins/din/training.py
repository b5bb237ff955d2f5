"""Training and scoring DIN (imported only when a DIN runs, so listing plugins never loads torch)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
import torch
from hmrec_plugins.din import DINParams
from hmrec_plugins.din.inputs import WeekInputs, concat, week_inputs
from hmrec_plugins.din.model import DIN, Shape

from hmrec_cli import console
from hmrec_cli.errors import InputError
from hmrec_cli.metrics import ManyOrders
from hmrec_cli.plugin_api import RankingWeek, RunSettings
from hmrec_cli.toolkit.batches import id_frequency, predict_in_batches, shuffled_batches, to_device
from hmrec_cli.toolkit.candidate_features import dense_names
from hmrec_cli.toolkit.features import PRICE_BANDS, WeekActivity, article_codes, customer_codes
from hmrec_cli.toolkit.fusion import Fusion, ap_differences, halves_with_a_hit, pooled_gain, tune
from hmrec_cli.toolkit.training import Settings, resolve_device, train

FEW_POSITIVES = 1000  # below this DIN rarely beats the sources' own order (the real 0.1% sample has ~300)
SCORE_BATCH = 4096  # rows per inference step: larger batches spill the CPU caches


@dataclass(frozen=True)
class Validation:
    """A held-out labelled week: its inputs on the device, its buyers ready to score many orders,
    their share of all the week's buyers, and merge's order (the `prior` each row starts from)."""

    tensors: dict[str, torch.Tensor]
    orders: ManyOrders
    share: float
    prior: np.ndarray


@dataclass(frozen=True)
class HeldOut:
    """A labelled week kept out of training, its buyers split in two by customer: `pick` picks the
    epoch, `judge` measures the gain of the network `pick` chose, which it did not bias."""

    pick: Validation
    judge: Validation


class Trained:
    """A DIN fitted on labelled weeks (`fit`), scoring new weeks (`score`)."""

    def __init__(self, params: DINParams):
        self.params = params
        self._week_activity = WeekActivity()

    def fit(self, train_weeks: list[RankingWeek], run: RunSettings) -> dict:
        p = self.params
        self.device = resolve_device(run.device, console.warn)
        self.fusion, self.prior_only = Fusion({s: 1.0 for s in train_weeks[0].sources}, 10.0), False
        if p.prior_weight > 0:  # the same fusion `merge` would fit on these weeks
            self.fusion, _ = tune(train_weeks, self.fusion, run.seed, on_progress=run.on_progress)
        train_weeks = [self._with_prior(w) for w in train_weeks]
        rng = np.random.default_rng(run.seed)
        fitted, valid, held_out = [], None, False
        for i, week in enumerate(train_weeks):
            run.on_progress(f"features {week.ctx.week.start}", i, len(train_weeks))
            if i == len(train_weeks) - 1 and len(train_weeks) > 1:
                valid, held_out = self._held_out(week, rng), True
                continue
            # sample first, then compute features for the kept rows only
            fitted.append(week_inputs(replace(week, candidates=self._sampled(week, rng)), p.history_length))
        data = concat(fitted)
        positives = int(data.label.sum()) if data.label is not None else 0
        if positives == 0:
            raise InputError(
                "no training week has a buyer whose purchase is among the candidates; add --train-weeks or sources"
            )
        if positives < FEW_POSITIVES:
            console.warn(
                f"din: only {positives} purchases among the training candidates; a learned ranker needs thousands (it keeps merge's order unless training clearly beats it on the held-out training weeks)"
            )
        self.model, log = self._train(train_weeks[0], data, valid.pick if valid else None, run, final=True)
        decay = scaled_decay(p, int(data.article.size))
        out = {
            **log.as_dict(),
            "training_rows": int(data.article.size),
            "positives": positives,
            "device": self.device.type,
            "validation": "MAP@12 of half the newest training week's buyers (the other half measures the gain)"
            if valid is not None
            else "none (one training week)",
            "dense_features": dense_names(train_weeks[0].sources),
            "weight_decay": decay,
            "fusion": {"weights": self.fusion.weights, "c": self.fusion.c, "prior_weight": p.prior_weight},
        }
        if valid is not None and p.prior_weight > 0:
            newest = self._gains(self.model, valid.judge)

            def earlier(j: int) -> np.ndarray | None:
                week, before = self._held_out(train_weeks[j], rng), concat(fitted[:j])
                if week is None or before.label.sum() <= 0:
                    return None
                model, _ = self._train(train_weeks[0], before, week.pick, run, final=False)
                return self._gains(model, week.judge)

            clear, gain = pooled_gain(newest, train_weeks, p.min_gain_se, earlier, run.on_progress)
            self.prior_only = not clear  # training did not clearly help: merge's order
            out.update(
                start=valid.judge.share * valid.judge.orders.map(valid.judge.prior),
                gain=gain,
                kept="merge's order" if self.prior_only else "trained",
            )
        elif held_out and p.prior_weight > 0:  # no buyer of the newest week to check a gain on
            self.prior_only = True
            out.update(
                gain="none measurable (the newest training week has no buyer with a purchase among the candidates in one of its halves)",
                kept="merge's order",
            )
        return out

    def _held_out(self, week: RankingWeek, rng) -> HeldOut | None:
        """A labelled week's buyers with a purchase among their candidates, in two halves by
        customer (one to pick the epoch on, one to measure the gain over merge's order on); None
        when either half has none."""
        if (split := halves_with_a_hit(week, self.params.valid_customers, rng)) is None:
            return None
        halves, share = split
        return HeldOut(*(self._validation(week, rows, share) for rows in halves))

    def _validation(self, week: RankingWeek, rows: pl.DataFrame, share: float) -> Validation:
        """`rows` of `week` (some buyers' candidates) ready to score on the device."""
        inputs = week_inputs(replace(week, candidates=rows), self.params.history_length)
        return Validation(
            to_device(_arrays(inputs), self.device),
            ManyOrders(rows, negative_share=week.negative_share),
            share,
            inputs.prior,
        )

    def _gains(self, model: DIN, valid: Validation) -> np.ndarray:
        """Per-buyer AP@12 of `model`'s scores minus that of merge's order."""
        return ap_differences(valid.orders, valid.prior, self._predict(model, valid.tensors))

    def _train(self, week: RankingWeek, data: WeekInputs, valid: Validation | None, run: RunSettings, final: bool):
        """A DIN for `week`'s articles and customers trained on `data`, the epoch picked on `valid`;
        `final`: the model `fit` keeps (it checkpoints and resumes), not one of the rolling
        validation's. Returns it and the training log."""
        p = self.params
        torch.manual_seed(run.seed)
        model = self._build(week, data).to(self.device)
        tensors = to_device(_arrays(data), self.device)
        frequency = id_frequency(tensors["article"], model.shape.articles, tensors["items"], tensors["seq_row"])
        validate = None
        if valid is not None:
            validate = lambda: valid.share * valid.orders.map(self._predict(model, valid.tensors))  # noqa: E731

        def loss_of(idx: torch.Tensor) -> torch.Tensor:
            logits = self._forward(model, tensors, idx)
            labels = tensors["label"][idx]
            if p.loss == "bce":
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels)
            else:
                loss = _listwise(logits.float(), labels, tensors["group"][idx])
            # mini-batch-aware L2 (paper eq. 4): each article id the batch uses, over its frequency
            used = torch.unique(
                torch.cat([tensors["article"][idx], tensors["items"][tensors["seq_row"][idx]].flatten()])
            )
            used = used[used > 0]
            return loss + p.reg * (model.article_id(used).float().pow(2).sum(-1) / frequency[used]).sum()

        ids = model.article_id.weight  # regularised above; everything else by AdamW's weight decay
        groups = [{"params": [ids], "weight_decay": 0.0}, {"params": [q for q in model.parameters() if q is not ids]}]
        decay = scaled_decay(p, int(data.article.size))
        settings = Settings(p.epochs, p.learning_rate, decay, p.patience, run.seed, self.device)
        log = train(
            model,
            loss_of,
            lambda epoch: batches(tensors, p, run.seed, epoch, self.device),
            int(data.article.size),
            settings,
            validate=validate,
            checkpoint=run.checkpoint if final else None,
            resume=run.resume and final,
            on_progress=run.on_progress,
            param_groups=groups,
        )
        return model, log

    def _with_prior(self, week: RankingWeek) -> RankingWeek:
        """The week with each candidate's starting score (merge's order, weighted) as column `prior`."""
        prior = (
            self.params.prior_weight * self.fusion.prior(week)
            if self.params.prior_weight > 0
            else np.zeros(week.candidates.height)
        )
        return replace(week, candidates=week.candidates.with_columns(prior=pl.Series(prior, dtype=pl.Float32)))

    def _sampled(self, week: RankingWeek, rng) -> pl.DataFrame:
        """Rows of customers with at least one purchase among their candidates: all positives, a
        `negative_share` of the negatives (drawn with the run's seed)."""
        candidates = week.candidates
        share = min(self.params.negative_share / week.negative_share, 1.0)  # `hmrec rank` may have sampled already
        draw = pl.Series(rng.random(candidates.height) < share)
        positive = pl.col("label") > 0
        return candidates.filter(positive.any().over("customer") & (positive | draw))

    def _build(self, week: RankingWeek, data: WeekInputs) -> DIN:
        p = self.params
        articles, customers = article_codes(week.ctx.articles), customer_codes(week.ctx.customers)
        article_table = np.vstack([np.zeros((1, len(articles.fields)), dtype=np.int64), articles.values])
        shape = Shape(
            articles=article_table.shape[0],
            article_fields=articles.sizes,
            customer_fields=customers.sizes,
            price_bands=PRICE_BANDS + 1,
            dense=data.dense.shape[1],
            id_dim=p.embedding_size,
            side_dim=p.side_embedding_size,
            attention_hidden=p.attention_hidden,
            hidden=tuple(int(h) for h in p.hidden.split(",") if h.strip()),
            history=p.history,
            wide=p.wide,
            dense_clip=p.dense_clip,
        )
        model = DIN(shape, torch.from_numpy(article_table), torch.from_numpy(customers.values))
        model.dense_mean.copy_(torch.from_numpy(data.dense.mean(0)))
        model.dense_std.copy_(torch.from_numpy(data.dense.std(0)).clamp(min=1e-3))
        return model

    @staticmethod
    def _forward(model: DIN, t: dict[str, torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
        seq = t["seq_row"][idx]
        items = t["items"][seq]
        return model(
            t["article"][idx],
            t["customer"][idx],
            items,
            t["age_days"][seq],
            items > 0,
            t["price_band"][idx],
            t["dense"][idx],
            t["prior"][idx],
        )

    def _predict(self, model: DIN, t: dict[str, torch.Tensor]) -> np.ndarray:
        model.eval()
        return predict_in_batches(
            lambda idx: self._forward(model, t, idx), t["article"].shape[0], SCORE_BATCH, self.device
        )

    def restore(self, week: RankingWeek, log: dict, checkpoint: Path) -> None:
        """The model `fit` left, rebuilt for `week`'s candidates from the checkpoint's best state and
        the training log (the fusion merge's order came from, whether the gate kept that order)."""
        fusion = log["fusion"]
        self.device = resolve_device("cpu", console.warn)
        self.fusion, self.prior_only = (
            Fusion(dict(fusion["weights"]), float(fusion["c"])),
            log.get("kept") == "merge's order",
        )
        inputs = week_inputs(self._with_prior(week), self.params.history_length)
        self.model = self._build(week, inputs)
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        self.model.load_state_dict(saved["best_state"] if saved.get("best_state") is not None else saved["model"])
        self.model.eval()

    def history_weights(self, week: RankingWeek) -> pl.DataFrame | None:
        """Per candidate row and history position (0 = the most recent purchase): the history
        article's index, its age in days at the week's start and the attention weight the model
        pools it with for that candidate. None when the scores do not use attention (merge's order
        kept, or `history` is mean or none)."""
        if self.prior_only or self.params.history != "attention":
            return None
        inputs = week_inputs(week, self.params.history_length)
        items, ages = inputs.items[inputs.seq_row], inputs.age_days[inputs.seq_row]
        t = to_device(
            {"article": inputs.article, "items": items.astype(np.int64), "age_days": ages.astype(np.int64)}, self.device
        )
        self.model.eval()
        with torch.no_grad():
            weights = (
                self.model.history_weights(t["article"], t["items"], t["age_days"], t["items"] > 0)
                .float()
                .cpu()
                .numpy()
            )
        rows, length = items.shape
        real = items.ravel() > 0
        return pl.DataFrame(
            {
                "customer": np.repeat(inputs.customer, length)[real].astype(np.uint32),
                "article": np.repeat(inputs.article - 1, length)[real].astype(np.uint32),
                "position": np.tile(np.arange(length, dtype=np.uint16), rows)[real],
                "history_article": (items.ravel()[real] - 1).astype(np.uint32),
                "age_days": ages.ravel()[real].astype(np.int32),
                "weight": weights.ravel()[real],
            }
        )

    def score(self, week: RankingWeek) -> np.ndarray:
        activity = self._week_activity(week.ctx)
        week = self._with_prior(week)
        if self.prior_only:
            return week.candidates["prior"].to_numpy()
        inputs = week_inputs(week, self.params.history_length, activity)
        return self._predict(self.model, to_device(_arrays(inputs), self.device))


def scaled_decay(p: DINParams, rows: int) -> float:
    """Weight decay grown as regularisation_rows / rows below regularisation_rows training rows:
    the fewer examples, the more the weights are pulled towards the plain (wide) ranker."""
    if p.regularisation_rows <= 0 or rows >= p.regularisation_rows:
        return p.weight_decay
    return p.weight_decay * p.regularisation_rows / max(rows, 1)


def _arrays(inputs: WeekInputs) -> dict[str, np.ndarray]:
    arrays = {
        "article": inputs.article,
        "customer": inputs.customer,
        "seq_row": inputs.seq_row,
        "price_band": inputs.price_band,
        "dense": inputs.dense,
        "items": inputs.items.astype(np.int64),
        "age_days": inputs.age_days.astype(np.int64),
        "group": inputs.group,
        "prior": inputs.prior,
    }
    if inputs.label is not None:
        arrays["label"] = inputs.label
    return arrays


def batches(t: dict[str, torch.Tensor], p: DINParams, seed: int, epoch: int, device: torch.device):
    """Shuffled row batches; for the listwise loss whole customers stay in one batch."""
    return shuffled_batches(
        t["article"].shape[0], p.batch_size, seed, epoch, device, t["group"] if p.loss == "listwise" else None
    )


def _listwise(logits: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Mean over positives of -log softmax within the customer's candidates in the batch."""
    _, local = torch.unique(groups, return_inverse=True)
    count = int(local.max()) + 1
    top = torch.full((count,), -torch.inf, device=logits.device).scatter_reduce(0, local, logits.detach(), "amax")
    sums = torch.zeros(count, device=logits.device).index_add(0, local, torch.exp(logits - top[local]))
    log_norm = torch.log(sums) + top
    return -(labels * (logits - log_norm[local])).sum() / labels.sum().clamp(min=1)
