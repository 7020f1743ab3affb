"""``kd_automl.optuna.run_study``: the Optuna backend, for scripts."""

from kd_automl.orchestrate.optuna.run import FrontTrial, StudySummary, run_study
from kd_automl.orchestrate.recording import TrialEvent, run_baseline

__all__ = ["FrontTrial", "StudySummary", "TrialEvent", "run_baseline", "run_study"]
