"""Importance with its uncertainty: aggregated over bootstrap fits, stable on a study with
one dominant parameter, and silent (too few trials to rank) on a small one."""

from __future__ import annotations

import math
import random

import optuna
import pytest
from helpers.stores import fill

from kd_automl.analysis import is_empty, param_importance
from kd_automl.analysis.importance import study_importance, trials_needed
from kd_automl.store import Store


def _study(n: int, seed: int = 0) -> optuna.Study:
    """A real Optuna study: ``lr`` decides the objective, ``alpha`` and ``beta`` are noise."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed))
    rng = random.Random(seed)
    for _ in range(n):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        alpha = trial.suggest_float("alpha", 0.0, 1.0)
        beta = trial.suggest_float("beta", 0.0, 1.0)
        study.tell(trial, -(math.log10(lr) + 1.5) ** 2
                   + 0.02 * alpha + 0.02 * beta + rng.gauss(0, 0.01))
    return study


@pytest.mark.parametrize("method", ["fanova", "ped_anova"])
def test_dominant_parameter_first_in_every_replicate_with_small_spread(method):
    imp = study_importance(_study(40), replicates=8, method=method)
    assert len(imp.runs) == 8 and imp.n_trials == 40 and imp.ranked
    assert all(max(run, key=run.__getitem__) == "lr" for run in imp.runs)
    assert imp.top == "lr" and imp.first_counts["lr"] == 8 and imp.stable
    assert imp.mean["lr"] > 0.6 and imp.std["lr"] < 0.1
    assert set(imp.mean) == {"lr", "alpha", "beta"}
    assert sum(imp.mean.values()) == pytest.approx(1.0)


def test_replicates_differ_so_the_spread_is_measured():
    imp = study_importance(_study(40), replicates=4)
    assert len({round(run["alpha"], 6) for run in imp.runs}) > 1  # resampled, reseeded
    assert 0 < imp.std["alpha"] < 0.1


def test_too_few_trials_to_rank(tmp_path):
    assert trials_needed(2) == 10 and trials_needed(3) == 15
    imp = study_importance(_study(8), replicates=3)
    assert not imp.ranked and imp.needed == 15
    store = Store(f"sqlite:///{tmp_path / 'kd.db'}")
    fill(store, 6, name="small")
    fig = param_importance(store.trials())
    assert is_empty(fig)
    assert fig.layout.annotations[0].text == \
        "too few trials to rank: small (6 of 10 needed for 2 parameters)"
    fill(store, 14, name="large", seed=3)
    fig = param_importance(store.trials())
    assert not is_empty(fig)
    assert {tr.name for tr in fig.data} == {"large"}  # no bar for the small experiment
    note = fig.layout.title.subtitle.text
    assert "too few trials to rank: small (6 of 10" in note and "large: 14 trials" in note
    bars = [tr for tr in fig.data if tr.xaxis == "x"][0]
    assert all(e >= 0 for e in bars.error_x.array)  # the spread is drawn
    assert all("±" in text for text in bars.text)
    store.dispose()


def test_pruned_trials_count_only_when_completed_ones_are_too_few(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'kd.db'}")
    fill(store, 6, name="pruned-help", pruned=6)  # 6 complete alone cannot rank 2 parameters
    fill(store, 12, name="enough", pruned=3, seed=3)
    fill(store, 3, name="still-few", pruned=2, seed=5)
    fig = param_importance(store.trials())
    assert {tr.name for tr in fig.data} == {"pruned-help", "enough"}
    note = fig.layout.title.subtitle.text
    assert "pruned-help: 6 pruned trial(s) counted at their value when stopped; 12 trials" in note
    assert "enough: 12 trials" in note  # ranked on its completed trials alone
    assert "still-few (5 of 10 needed" in note  # pruned ones counted, still too few
    store.dispose()
