"""The trial engine: everything below the orchestrator, unaware of NNI and Optuna."""

from kd_automl.engine.reporters import NullReporter, Reporter
from kd_automl.engine.result import TrialResult
from kd_automl.engine.trial import run_trial, train_teacher

__all__ = ["NullReporter", "Reporter", "TrialResult", "run_trial", "train_teacher"]
