"""The result store (SQLAlchemy; SQLite by default): writes results, hands out frozen records."""

from kd_automl.store.leaderboard import Row, leaderboard
from kd_automl.store.records import (
    EpochRecord,
    ExperimentRecord,
    TrialRecord,
    flatten_params,
    format_params,
)
from kd_automl.store.store import Store

__all__ = ["EpochRecord", "ExperimentRecord", "Row", "Store", "TrialRecord", "flatten_params",
           "format_params", "leaderboard"]
