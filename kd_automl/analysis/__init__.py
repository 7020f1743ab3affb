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
from kd_automl.analysis.report import default_report_file, write_report
from kd_automl.analysis.reskd import reskd_figures
from kd_automl.analysis.takd import chain_accuracy, student_vs_assistant_size, takd_figures

__all__ = ["accuracy_by_temperature_alpha", "accuracy_vs_size", "chain_accuracy",
           "default_report_file", "figure_set",
           "gap_and_gain", "importances", "is_empty", "learning_curves", "loss_terms",
           "method_comparison", "optimization_history", "parallel_coordinates",
           "param_importance", "pareto_front", "pick_for_curves", "reskd_figures", "slice_plot",
           "student_vs_assistant_size", "takd_figures", "temperature_alpha", "trial_curves",
           "write_report"]
