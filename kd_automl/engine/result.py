"""What a trial returns: defined in :mod:`kd_automl.results` (no torch), named here too."""

from kd_automl.results import METRIC_FIELDS, Status, TrialResult, objective_field

__all__ = ["METRIC_FIELDS", "Status", "TrialResult", "objective_field"]
