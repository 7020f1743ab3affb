"""Hyperparameter importance from stored trials (so NNI experiments get it too).

The completed trials of each experiment are replayed into an in-memory Optuna study
(``optuna.trial.create_trial``) with distributions inferred from the experiment's NNI
search space, and ranked by ``optuna.importance.get_param_importances`` (fANOVA).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
)

from kd_automl.analysis._common import (
    completed,
    empty_figure,
    is_log_param,
    is_number,
    param_names,
    sample,
    set_title,
)
from kd_automl.store.records import TrialRecord

log = logging.getLogger(__name__)
MAX_TRIALS = 300  # fANOVA's forest grows with the trials; more than this are sampled
N_TREES, MAX_DEPTH = 24, 16  # smaller than Optuna's default forest: seconds, not minutes


def _distribution(trials: Sequence[TrialRecord], name: str, values: list[Any]
                  ) -> BaseDistribution | None:
    """The distribution of one parameter over ``values``; None when it does not vary."""
    if len({str(v) for v in values}) < 2:
        return None
    if all(is_number(v) for v in values):
        lo, hi = float(min(values)), float(max(values))
        return FloatDistribution(lo, hi, log=is_log_param(trials, name) and lo > 0)
    return CategoricalDistribution(sorted({str(v) for v in values}))


def importances(trials: Sequence[TrialRecord], seed: int = 0) -> dict[str, float]:
    """fANOVA importance of each varying searched parameter over completed ``trials``
    (one experiment's); {} when fewer than two trials or no parameter varies."""
    done = [t for t in completed(trials) if t.params]
    if len(done) < 2:
        return {}
    flat = [t.flat_params for t in done]
    names = [k for k in param_names(done) if all(k in f and f[k] is not None for f in flat)]
    dists = {k: d for k in names if (d := _distribution(done, k, [f[k] for f in flat]))}
    if not dists:
        return {}
    frozen = []
    for f, t in zip(flat, done, strict=True):
        params = {k: (float(f[k]) if isinstance(d, FloatDistribution) else str(f[k]))
                  for k, d in dists.items()}
        frozen.append(optuna.trial.create_trial(params=params, distributions=dists,
                                                value=float(t.objective)))
    prev = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = optuna.create_study(
            direction="maximize" if done[0].experiment.maximize else "minimize")
        study.add_trials(frozen)
        evaluator = optuna.importance.FanovaImportanceEvaluator(
            n_trees=N_TREES, max_depth=MAX_DEPTH, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
    finally:
        optuna.logging.set_verbosity(prev)
    return {k: float(v) for k, v in imp.items()}


def param_importance(trials: Sequence[TrialRecord], max_trials: int = MAX_TRIALS) -> go.Figure:
    """Bar chart of fANOVA importances, one group per experiment."""
    title = "Hyperparameter importance (fANOVA)"
    by_exp: dict[str, list[TrialRecord]] = {}
    for t in completed(trials):
        by_exp.setdefault(t.experiment.name, []).append(t)
    fig = go.Figure()
    notes, skipped = [], []
    for name, ts in by_exp.items():
        shown, note = sample(ts, max_trials)
        imp = importances(shown)
        if not imp:
            skipped.append(name)
            continue
        if note:
            notes.append(f"{name}: {note}")
        keys = list(reversed(imp))
        fig.add_bar(x=[imp[k] for k in keys], y=keys, orientation="h", name=name,
                    text=[f"{imp[k]:.2f}" for k in keys], textposition="auto")
    if not fig.data:
        return empty_figure(title, "needs at least 2 completed trials in which a searched "
                                   "parameter varies")
    if skipped:
        notes.append("too few trials: " + ", ".join(skipped))
    fig.update_layout(barmode="group", xaxis_title="importance (share of objective variance)",
                      height=max(320, 60 + 40 * len({y for d in fig.data for y in d.y})))
    return set_title(fig, title, "; ".join(notes) or None)
