"""Plotly figures built from store rows. Every function returns a ``go.Figure``.

A figure with nothing to show says so on the figure instead of failing; a figure that
sampled or aggregated trials says so in its subtitle.

>>> from kd_automl.store import Store
>>> store = Store("sqlite:///runs/kd_automl.db")                       # doctest: +SKIP
>>> optimization_history(store.trials()).show()                        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from kd_automl.analysis._common import empty_figure, note_of
from kd_automl.analysis.curves import learning_curves, loss_terms, pick_for_curves, trial_curves
from kd_automl.analysis.history import optimization_history
from kd_automl.analysis.importance import importances, param_importance
from kd_automl.analysis.methods import method_comparison
from kd_automl.analysis.objectives import objective_front
from kd_automl.analysis.params import parallel_coordinates, slice_plot
from kd_automl.analysis.temperature import temperature_alpha
from kd_automl.analysis.tradeoff import (
    accuracy_vs_size,
    gap_and_gain,
    pareto_front,
    size_figures,
)
from kd_automl.store.records import TrialRecord

accuracy_by_temperature_alpha = temperature_alpha  # the foundation's name


def is_empty(fig: go.Figure) -> bool:
    """Whether ``fig`` is an empty-state figure (nothing to show)."""
    meta = fig.layout.meta
    return isinstance(meta, dict) and bool(meta.get("empty"))


def figure_set(trials: Sequence[TrialRecord], curve_trials: Sequence[TrialRecord] | None = None
               ) -> list[tuple[str, go.Figure]]:
    """Every figure for ``trials``, in report order, as ``(key, figure)``.

    ``curve_trials`` are trials loaded with their epochs, for the learning curves
    (default: ``trials`` themselves, if they carry epochs).
    """
    return [
        ("history", optimization_history(trials)),
        ("importance", param_importance(trials)),
        ("parallel", parallel_coordinates(trials)),
        ("slice", slice_plot(trials)),
        ("temperature_alpha", temperature_alpha(trials)),
        ("curves", learning_curves(trials if curve_trials is None else curve_trials)),
        ("gap_gain", gap_and_gain(trials)),
        *size_figures(trials),
        ("objective_front", objective_front(trials)),
        ("methods", method_comparison(trials)),
    ]


__all__ = ["accuracy_by_temperature_alpha", "accuracy_vs_size", "empty_figure", "figure_set",
           "gap_and_gain", "importances", "is_empty", "learning_curves", "loss_terms",
           "method_comparison", "note_of", "optimization_history", "parallel_coordinates",
           "param_importance", "pareto_front", "pick_for_curves", "slice_plot",
           "temperature_alpha", "trial_curves"]
