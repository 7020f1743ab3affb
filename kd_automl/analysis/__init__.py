"""Plotly figures and the HTML report, built from the store."""

from kd_automl.analysis.figures import (
    accuracy_by_temperature_alpha,
    accuracy_vs_size,
    figure_set,
    gap_and_gain,
    importances,
    is_empty,
    learning_curves,
    loss_terms,
    method_comparison,
    optimization_history,
    parallel_coordinates,
    param_importance,
    pareto_front,
    pick_for_curves,
    slice_plot,
    temperature_alpha,
    trial_curves,
)
from kd_automl.analysis.report import write_report

__all__ = ["accuracy_by_temperature_alpha", "accuracy_vs_size", "figure_set", "gap_and_gain",
           "importances", "is_empty", "learning_curves", "loss_terms", "method_comparison",
           "optimization_history", "parallel_coordinates", "param_importance", "pareto_front",
           "pick_for_curves", "slice_plot", "temperature_alpha", "trial_curves", "write_report"]
