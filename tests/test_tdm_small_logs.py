"""TDM on a log of a few thousand purchases a month (MovieLens 100k has ~8,000): its batches shrink
so training takes enough optimiser steps, and validation leaves the newest week half to training."""

from __future__ import annotations

import math

import numpy as np
from hmrec_plugins.tdm import TDM, TDMParams
from hmrec_plugins.tdm.fitting import passes_for, split_validation
from test_tdm import SMALL, planted_world

from hmrec_cli.plugin_api import RunSettings
from hmrec_cli.toolkit.batches import MIN_BATCH, scaled_batch

MIN_STEPS = TDMParams().min_steps  # the default: 100


def test_a_small_log_gets_smaller_batches_and_a_large_one_keeps_its_own() -> None:
    assert scaled_batch(4025, 256, MIN_STEPS) == 41 and math.ceil(4025 / 41) == 99  # MovieLens' 16 steps an epoch -> 99
    assert scaled_batch(30631, 256, MIN_STEPS) == 256  # the synthetic small world: 120 steps an epoch already
    assert scaled_batch(300, 256, MIN_STEPS) == MIN_BATCH  # never below the floor
    assert scaled_batch(1000, 8, MIN_STEPS) == 8  # never above what was asked


def test_at_most_half_the_newest_weeks_buyers_are_held_out() -> None:
    week = np.repeat([0, 1], [30, 10])  # one example per buyer-week; the newest week has 10 buyers
    pair_example = np.repeat(np.arange(40), 3)  # three purchases each
    train, valid = split_validation(week, pair_example, 1000, seed=0)
    held = np.unique(pair_example[valid])
    assert held.size == 5 and (week[held] == 1).all()
    assert np.unique(pair_example[train]).size == 35


def test_a_fit_on_a_tiny_log_takes_100_steps_an_epoch() -> None:
    ctx, _, _ = planted_world()
    log = TDM(TDMParams(**dict(SMALL, weeks=1), epochs=1)).fit(ctx, RunSettings(seed=0, device="cpu"))
    assert log["steps_per_epoch"] >= MIN_STEPS - 1 and log["batch_size"] < SMALL["batch_size"]
    assert log["training_purchases"] >= log["held_out_purchases"]


def test_a_log_under_1600_purchases_gets_more_epochs() -> None:
    assert MIN_STEPS == 100
    assert (
        passes_for(850, MIN_STEPS) == 2
    )  # the real H&M extract's ~850 training purchases: 54 steps -> twice the epochs
    assert (
        passes_for(1600, MIN_STEPS) == passes_for(4025, MIN_STEPS) == passes_for(30631, MIN_STEPS) == 1
    )  # MovieLens, synthetic
    assert passes_for(100, MIN_STEPS) == 16
    assert passes_for(100, 0) == 1  # min_steps=0: the epochs as asked


def test_min_steps_0_keeps_the_batch_size_asked() -> None:
    ctx, _, _ = planted_world()
    params = TDMParams(**dict(SMALL, weeks=1), epochs=1, min_steps=0)
    log = TDM(params).fit(ctx, RunSettings(seed=0, device="cpu"))
    assert log["batch_size"] == SMALL["batch_size"]
