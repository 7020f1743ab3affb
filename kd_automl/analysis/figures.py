"""Plotly figures built from store rows. Every function returns a ``go.Figure``.

A figure with nothing to show says so on the figure instead of failing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from kd_automl.store.models import Trial


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#666"})
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False},
                      height=320)
    return fig


def _objective(t: Trial) -> float | None:
    metric = t.experiment.objective_metric
    return t.student_val_acc if metric == "val_acc" else t.student_test_acc


def _numeric_params(trials: Sequence[Trial]) -> list[str]:
    keys: dict[str, None] = {}
    for t in trials:
        for k, v in (t.params or {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                keys.setdefault(k, None)
    return list(keys)


def optimization_history(trials: Sequence[Trial]) -> go.Figure:
    """Objective of each completed search trial in order, with the best-so-far line."""
    title = "Optimization history"
    search = [t for t in trials if t.role == "search" and t.state == "complete"
              and _objective(t) is not None]
    if not search:
        return _empty(title, "no completed trials yet")
    fig = go.Figure()
    by_exp: dict[str, list[Trial]] = {}
    for t in search:
        by_exp.setdefault(t.experiment.name, []).append(t)
    for name, ts in by_exp.items():
        ts.sort(key=lambda t: t.id)
        xs = list(range(len(ts)))
        ys = [_objective(t) for t in ts]
        maximize = ts[0].experiment.direction == "maximize"
        best, best_line = None, []
        for y in ys:
            best = y if best is None else (max(best, y) if maximize else min(best, y))
            best_line.append(best)
        fig.add_scatter(x=xs, y=ys, mode="markers", name=f"{name}: trial",
                        text=[f"trial {t.backend_trial_id}" for t in ts])
        fig.add_scatter(x=xs, y=best_line, mode="lines", name=f"{name}: best so far")
    metric = search[0].experiment.objective_metric
    fig.update_layout(title=title, xaxis_title="completed trial #", yaxis_title=f"student {metric}")
    return fig


def parallel_coordinates(trials: Sequence[Trial]) -> go.Figure:
    """Searched numeric parameters against the objective, one line per completed trial."""
    title = "Parallel coordinates of searched parameters"
    done = [t for t in trials if t.role == "search" and t.state == "complete"
            and _objective(t) is not None]
    keys = _numeric_params(done)
    if not done or not keys:
        return _empty(title, "no completed trials with numeric parameters yet")
    dims = []
    for k in keys:
        vals = [float(t.params.get(k, math.nan)) for t in done]
        dims.append({"label": k, "values": vals})
    obj = [_objective(t) for t in done]
    dims.append({"label": "objective", "values": obj})
    fig = go.Figure(go.Parcoords(line={"color": obj, "colorscale": "Viridis", "showscale": True},
                                 dimensions=dims))
    fig.update_layout(title=title)
    return fig


def _param_value(t: Trial, suffix: str) -> float | None:
    for k, v in (t.params or {}).items():
        if (k == suffix or k.endswith("." + suffix)) and isinstance(v, int | float):
            return float(v)
    spec_method = (t.experiment.spec or {}).get("method", {})
    v = spec_method.get(suffix)
    return float(v) if isinstance(v, int | float) else None


def accuracy_by_temperature_alpha(trials: Sequence[Trial]) -> go.Figure:
    """Student test accuracy against temperature, coloured by alpha (the KD search's core view)."""
    title = "Student accuracy by temperature and alpha"
    done = [t for t in trials if t.role == "search" and t.state == "complete"
            and t.student_test_acc is not None]
    pts = [(_param_value(t, "temperature"), _param_value(t, "alpha"), t) for t in done]
    pts = [p for p in pts if p[0] is not None and p[1] is not None]
    if not pts:
        return _empty(title, "no completed trials with a temperature and an alpha")
    fig = go.Figure(go.Scatter(
        x=[p[0] for p in pts], y=[p[2].student_test_acc for p in pts], mode="markers",
        marker={"color": [p[1] for p in pts], "colorscale": "Plasma", "size": 10,
                "colorbar": {"title": "alpha"}, "showscale": True},
        text=[f"{p[2].experiment.name} #{p[2].backend_trial_id}<br>T={p[0]:.3g} alpha={p[1]:.3g}"
              for p in pts], hoverinfo="text+y"))
    baselines = {t.experiment_id: t.student_test_acc for t in trials
                 if t.role == "baseline" and t.state == "complete"}
    for acc in sorted({v for v in baselines.values() if v is not None}):
        fig.add_hline(y=acc, line_dash="dash", annotation_text="student alone")
    fig.update_layout(title=title, xaxis_title="temperature T", xaxis_type="log",
                      yaxis_title="student test accuracy")
    return fig


def figure_set(trials: Sequence[Trial]) -> list[tuple[str, go.Figure]]:
    """The figures a report shows, in order."""
    return [("history", optimization_history(trials)),
            ("parallel", parallel_coordinates(trials)),
            ("temperature_alpha", accuracy_by_temperature_alpha(trials))]


__all__: list[Any] = ["accuracy_by_temperature_alpha", "figure_set", "optimization_history",
                      "parallel_coordinates"]
