"""The trial engine: everything below the orchestrator, unaware of NNI and Optuna.

``run_trial`` and ``train_teacher`` load on first use (they import torch), so importing
``kd_automl.engine`` for ``TrialResult`` or a reporter stays light.
"""

from kd_automl.engine.reporters import NullReporter, Reporter
from kd_automl.results import TrialResult

__all__ = ["NullReporter", "Reporter", "TrialResult", "run_trial", "train_teacher"]

def __getattr__(name: str):
    if name == "run_trial":
        from kd_automl.engine.trial import run_trial

        return run_trial
    if name == "train_teacher":
        from kd_automl.engine.teacher import train_teacher

        return train_teacher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
