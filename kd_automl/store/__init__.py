"""The result store (SQLAlchemy; SQLite by default) and the queries everyone needs."""

from kd_automl.store.leaderboard import Row, baseline_accuracy, leaderboard
from kd_automl.store.models import EpochMetric, Experiment, Trial
from kd_automl.store.store import Store

__all__ = ["EpochMetric", "Experiment", "Row", "Store", "Trial", "baseline_accuracy",
           "leaderboard"]
