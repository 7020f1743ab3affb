"""Plotly figures and the HTML report, built from the store."""

from kd_automl.analysis.figures import (
    accuracy_by_temperature_alpha,
    figure_set,
    optimization_history,
    parallel_coordinates,
)
from kd_automl.analysis.report import write_report

__all__ = ["accuracy_by_temperature_alpha", "figure_set", "optimization_history",
           "parallel_coordinates", "write_report"]
