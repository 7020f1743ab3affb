"""The trial engine: everything below the orchestrator, unaware of NNI and Optuna.

``run_trial`` and ``train_teacher`` load on first use (they import torch), so importing
``kd_automl.engine`` for ``TrialResult`` or a reporter stays light.
"""

from kd_automl.engine.reporters import NullReporter, Reporter
from kd_automl.results import TrialResult

__all__ = ["NullReporter", "Reporter", "TrialResult", "run_trial", "train_teacher"]

_LAZY = {"run_trial", "train_teacher"}


def __getattr__(name: str):
    if name in _LAZY:
        from kd_automl.engine import trial

        return getattr(trial, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
