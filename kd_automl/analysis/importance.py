"""Hyperparameter importance with its uncertainty, from stored trials (NNI experiments too).

One fANOVA fit on a few trials ranks parameters by chance: its forest's seed alone can move
the top parameter. So importance here is an aggregate of ``replicates`` fits, each on a
bootstrap resample of the completed trials with its own forest seed: the mean is the
importance, the standard deviation its spread, and the figure counts how often each
parameter came first. Optuna's PED-ANOVA is aggregated the same way beside it. Below
:func:`trials_needed` completed trials the figure counts the pruned ones too, at their value
when stopped (what the pruner judged them by), and says so; below that it says there are
too few to rank.

The stored trials are replayed into an in-memory Optuna study (``create_trial``) with
distributions inferred from the experiment's NNI search space; :func:`study_importance`
takes any Optuna study.

>>> imp = study_importance(study, replicates=8)       # doctest: +SKIP
>>> imp.top, imp.mean, imp.std, imp.first_counts       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import random
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
)
from optuna.trial import FrozenTrial, TrialState
from plotly.subplots import make_subplots

from kd_automl.analysis._common import (
    empty_figure,
    is_log_param,
    is_number,
    param_names,
    sample,
    search_trials,
    set_title,
)
from kd_automl.store.records import TrialRecord

log = logging.getLogger(__name__)
MAX_TRIALS = 120  # each replicate grows a forest over the trials; more than this are sampled
REPLICATES = 8  # bootstrap resamples (each with its own forest seed) aggregated
N_TREES, MAX_DEPTH = 8, 12  # per replicate: REPLICATES x N_TREES trees in all
MIN_TRIALS, TRIALS_PER_PARAM = 10, 5  # fewer than max(these) -> too few trials to rank
STABLE = 0.75  # the top parameter must come first in this share of replicates
METHODS = ("fanova", "ped_anova")


@dataclass(frozen=True)
class Importance:
    """Importance of each parameter over several fits of one study."""

    method: str  # fanova | ped_anova
    n_trials: int
    runs: tuple[dict[str, float], ...]  # one normalised importance per replicate

    @property
    def names(self) -> list[str]:
        """Parameters by decreasing mean importance."""
        return sorted(self.mean, key=lambda k: -self.mean[k])

    @property
    def mean(self) -> dict[str, float]:
        keys = {k for r in self.runs for k in r}
        means = {k: statistics.fmean(r.get(k, 0.0) for r in self.runs) for k in keys}
        return dict(sorted(means.items(), key=lambda kv: -kv[1]))

    @property
    def std(self) -> dict[str, float]:
        """Standard deviation over the replicates (0 with one replicate)."""
        return {k: statistics.pstdev(r.get(k, 0.0) for r in self.runs) for k in self.mean}

    @property
    def first_counts(self) -> dict[str, int]:
        """How many replicates ranked each parameter first."""
        counts = dict.fromkeys(self.mean, 0)
        for r in self.runs:
            if r:
                counts[max(r, key=r.__getitem__)] += 1
        return counts

    @property
    def top(self) -> str | None:
        return self.names[0] if self.runs else None

    @property
    def needed(self) -> int:
        return trials_needed(len(self.mean))

    @property
    def ranked(self) -> bool:
        """Enough trials to rank the parameters."""
        return self.n_trials >= self.needed

    @property
    def stable(self) -> bool:
        """The top parameter came first in at least ``STABLE`` of the replicates."""
        top = self.top
        return top is not None and self.first_counts[top] >= STABLE * len(self.runs)


def trials_needed(n_params: int) -> int:
    """Completed trials needed before ``n_params`` parameters are ranked."""
    return max(MIN_TRIALS, TRIALS_PER_PARAM * n_params)


def _evaluator(method: str, seed: int) -> optuna.importance.BaseImportanceEvaluator:
    if method == "fanova":
        return optuna.importance.FanovaImportanceEvaluator(n_trees=N_TREES, max_depth=MAX_DEPTH,
                                                           seed=seed)
    if method == "ped_anova":
        return optuna.importance.PedAnovaImportanceEvaluator()
    raise ValueError(f"method must be one of {METHODS}")


def _fit(trials: list[FrozenTrial], maximize: bool, method: str, seed: int
         ) -> dict[str, float] | None:
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    study.add_trials(trials)
    try:
        imp = optuna.importance.get_param_importances(study, evaluator=_evaluator(method, seed))
    except (ValueError, RuntimeError, ZeroDivisionError) as err:  # a degenerate resample
        log.debug("importance replicate %d skipped: %s", seed, err)
        return None
    return {k: float(v) for k, v in imp.items()}


def study_importance(study: optuna.Study, replicates: int = REPLICATES, method: str = "fanova",
                     bootstrap: bool = True) -> Importance:
    """Importance over ``replicates`` fits of ``study``'s completed trials (its first
    objective): replicate ``i`` resamples the trials with seed ``i`` (when ``bootstrap``)
    and grows its forest with seed ``i``."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values]
    single = [optuna.trial.create_trial(params=t.params, distributions=t.distributions,
                                        value=t.values[0]) for t in done]
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    runs = []
    prev = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental evaluators, tiny resamples
            for i in range(replicates if single else 0):
                rng = random.Random(i)
                picked = [rng.choice(single) for _ in single] if bootstrap else single
                if (run := _fit(picked, maximize, method, i)) is not None:
                    runs.append(run)
    finally:
        optuna.logging.set_verbosity(prev)
    return Importance(method, len(done), tuple(runs))


def _distribution(trials: Sequence[TrialRecord], name: str, values: list[Any]
                  ) -> BaseDistribution | None:
    """The distribution of one parameter over ``values``; None when it does not vary."""
    if len({str(v) for v in values}) < 2:
        return None
    if all(is_number(v) for v in values):
        lo, hi = float(min(values)), float(max(values))
        return FloatDistribution(lo, hi, log=is_log_param(trials, name) and lo > 0)
    return CategoricalDistribution(sorted({str(v) for v in values}))


def replay(trials: Sequence[TrialRecord], states: Sequence[str] = ("complete",)
           ) -> optuna.Study | None:
    """The search ``trials`` of one experiment in ``states`` that have a value, as an
    in-memory Optuna study (all of them complete) over the parameters that vary; None when
    fewer than two trials or nothing varies."""
    done = [t for t in search_trials(trials, states) if t.objective is not None and t.params]
    if len(done) < 2:
        return None
    flat = [t.flat_params for t in done]
    names = [k for k in param_names(done) if all(k in f and f[k] is not None for f in flat)]
    dists = {k: d for k in names if (d := _distribution(done, k, [f[k] for f in flat]))}
    if not dists:
        return None
    frozen = [optuna.trial.create_trial(
        params={k: (float(f[k]) if isinstance(d, FloatDistribution) else str(f[k]))
                for k, d in dists.items()},
        distributions=dists, value=float(t.objective)) for f, t in zip(flat, done, strict=True)]
    prev = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = optuna.create_study(
            direction="maximize" if done[0].experiment.maximize else "minimize")
    finally:
        optuna.logging.set_verbosity(prev)
    study.add_trials(frozen)
    return study


def importance_of(trials: Sequence[TrialRecord], replicates: int = REPLICATES,
                  method: str = "fanova") -> Importance | None:
    """Aggregated importance over one experiment's completed ``trials``; None when fewer
    than two trials or no searched parameter varies."""
    study = replay(trials)
    return None if study is None else study_importance(study, replicates, method)


def importances(trials: Sequence[TrialRecord], replicates: int = REPLICATES) -> dict[str, float]:
    """Mean fANOVA importance per varying searched parameter (one experiment's trials),
    largest first; {} when nothing can be ranked."""
    imp = importance_of(trials, replicates)
    return imp.mean if imp else {}


def _bars(fig: go.Figure, imp: Importance, keys: list[str], name: str, col: int,
          colour: str) -> None:
    mean, std, first = imp.mean, imp.std, imp.first_counts
    fig.add_bar(x=[mean.get(k, 0.0) for k in keys], y=keys, orientation="h", name=name,
                legendgroup=name, showlegend=col == 1, marker_color=colour,
                error_x={"type": "data", "array": [std.get(k, 0.0) for k in keys],
                         "visible": True, "color": "#333"},
                text=[f"{mean.get(k, 0.0):.2f} ± {std.get(k, 0.0):.2f}" for k in keys],
                textposition="auto",
                customdata=[[first.get(k, 0), len(imp.runs)] for k in keys],
                hovertemplate="%{y}: %{x:.3f}<br>first in %{customdata[0]} of "
                              "%{customdata[1]} fits<extra>" + name + "</extra>",
                row=1, col=col)


def _fit_experiment(trials: Sequence[TrialRecord], max_trials: int, replicates: int
                    ) -> tuple[Importance | None, optuna.Study | None, str | None]:
    """fANOVA over one experiment's completed trials; when they are too few to rank, over
    its pruned trials too (at their value when stopped). Returns the fit, its study and a
    note for the figure."""
    fit: tuple[Importance | None, optuna.Study | None, str | None] = (None, None, None)
    for states in (("complete",), ("complete", "pruned")):
        ts = search_trials(trials, states)
        shown, note = sample(ts, max_trials)
        study = replay(shown, states)
        if study is None:
            continue
        fanova = study_importance(study, replicates, "fanova")
        if not fanova.runs:
            continue
        if "pruned" in states:
            n = sum(t.state == "pruned" for t in shown)
            note = "; ".join(filter(None, [note, f"{n} pruned trial(s) counted at their "
                                                 "value when stopped"]))
        fit = (fanova, study, note)
        if fanova.ranked or not any(t.state == "pruned" for t in trials):
            break
    return fit


def param_importance(trials: Sequence[TrialRecord], max_trials: int = MAX_TRIALS,
                     replicates: int = REPLICATES) -> go.Figure:
    """fANOVA and PED-ANOVA importance (mean ± sd over bootstrap replicates), one group of
    bars per experiment; experiments with too few trials are named, not ranked."""
    title = "Hyperparameter importance (mean ± sd over bootstrap fits)"
    by_exp: dict[str, list[TrialRecord]] = {}
    for t in search_trials(trials, ("complete", "pruned")):
        if t.objective is not None:
            by_exp.setdefault(t.experiment.name, []).append(t)
    ranked: list[tuple[str, Importance, Importance]] = []
    notes, unranked = [], []
    for name, ts in by_exp.items():
        fanova, study, note = _fit_experiment(ts, max_trials, replicates)
        if fanova is None:
            continue
        if not fanova.ranked:
            unranked.append(f"{name} ({fanova.n_trials} of {fanova.needed} needed for "
                            f"{len(fanova.mean)} parameters)")
            continue
        ranked.append((name, fanova, study_importance(study, replicates, "ped_anova")))
        top = fanova.top
        notes.append(f"{name}: {note + '; ' if note else ''}{fanova.n_trials} trials, "
                     f"{top} first in {fanova.first_counts[top]}/{len(fanova.runs)} fits"
                     + ("" if fanova.stable else " (ranking uncertain)"))
    if not ranked:
        if unranked:
            return empty_figure(title, "too few trials to rank: " + ", ".join(unranked))
        return empty_figure(title, "needs at least 2 completed trials in which a searched "
                                   "parameter varies")
    if unranked:
        notes.append("too few trials to rank: " + ", ".join(unranked))
    keys = list(reversed(ranked[0][1].names))
    keys = [k for k in {k: None for _, f, _ in ranked for k in f.names} if k not in keys] + keys
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("fANOVA", "PED-ANOVA (top trials vs all)"))
    for i, (name, fanova, ped) in enumerate(ranked):
        colour = f"hsl({(int(360 * i / len(ranked)) + 210) % 360},55%,50%)"
        _bars(fig, fanova, keys, name, 1, colour)
        if ped.runs:
            _bars(fig, ped, keys, name, 2, colour)
    fig.update_xaxes(title_text="importance (share, mean ± sd)", rangemode="tozero")
    fig.update_layout(barmode="group", height=max(340, 90 + 44 * len(keys) * len(ranked)))
    return set_title(fig, title, "; ".join(notes))
