"""The Optuna backend of a ResKD stage: the space's choices as ``suggest_categorical``."""

from __future__ import annotations

import optuna

from kd_automl.reskd.config import ArchSpace
from kd_automl.reskd.search import StageSearch
from kd_automl.reskd.space import suggest_arch


def search_stage_optuna(stage: StageSearch, space: ArchSpace, n_trials: int, seed: int) -> None:
    """Propose ``n_trials`` architectures with Optuna's TPE sampler (in memory, one stage)."""
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(4, n_trials))
    study = optuna.create_study(direction="maximize", sampler=sampler,
                                study_name=f"reskd-stage{stage.stage}")
    study.optimize(lambda t: stage.evaluate(suggest_arch(t, space)), n_trials=n_trials,
                   catch=())
