"""Every private part of Optuna that kd-automl uses, in one place (tested against the installed
Optuna in tests/test_optuna_private.py; ``optuna<6`` in pyproject.toml).

Each is used to save storage round-trips or to reach what Optuna keeps but does not expose:
the storage and ids behind a study and a trial, the stale trials of a heartbeat storage, the
RDB storage's models and engine, a pruner's warm-up, and a tell without the read-back. Where
a later Optuna lacks one, the callers fall back to the public call (``None`` here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import optuna
from optuna.trial import TrialState


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage ``study`` reads and writes (Optuna's cache wrapper included)."""
    return study._storage


def study_id(study: optuna.Study) -> int:
    """The study's id in its storage (the ``study_id`` column of Optuna's tables)."""
    return study._study_id


def trial_id(trial: optuna.Trial) -> int:
    """A running trial's id in its storage (heartbeats and the ``trials`` table use it)."""
    return trial._trial_id


def backend_of(storage: optuna.storages.BaseStorage) -> Any:
    """The storage under Optuna's cache wrapper (an ``RDBStorage`` for RDB URLs)."""
    return getattr(storage, "_backend", storage)


def stale_trial_ids(study: optuna.Study) -> list[int]:
    """RUNNING trials whose heartbeat is older than the storage's grace period."""
    return storage_of(study)._get_stale_trial_ids(study_id(study))


def rdb_models() -> ModuleType:
    """Optuna's SQLAlchemy models of its RDB tables (``TrialModel``, ...)."""
    from optuna.storages._rdb import models

    return models


def latest_trial(trial: optuna.Trial) -> Callable[[], optuna.trial.FrozenTrial] | None:
    """The trial's own cached read of itself, or None where Optuna has none."""
    return getattr(trial, "_get_latest_trial", None)


def warmup_steps(pruner: optuna.pruners.BasePruner) -> int:
    """A percentile/median pruner's ``n_warmup_steps`` (0 where it keeps none)."""
    return getattr(pruner, "_n_warmup_steps", 0)


def tell_quietly(study: optuna.Study, trial: optuna.Trial,
                 values: float | Sequence[float] | None, state: TrialState | None) -> bool:
    """``study.tell`` without reading the finished trial back; False where this Optuna has no
    such call (the caller then uses ``study.tell``)."""
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:
        return False
    _tell_with_warning(study=study, trial=trial, value_or_values=values, state=state)
    return True
