"""Temperature × alpha: where the KD search's two core knobs put the student's accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from kd_automl.analysis._common import (
    MAX_POINTS,
    empty_figure,
    param_value,
    sample,
    search_trials,
    set_title,
)
from kd_automl.store.records import TrialRecord

MIN_FOR_HEATMAP = 12


def _edges(values: np.ndarray, bins: int, log: bool) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if log:
        return np.geomspace(lo, hi, bins + 1)
    return np.linspace(lo, hi, bins + 1)


def temperature_alpha(trials: Sequence[TrialRecord], max_points: int = MAX_POINTS) -> go.Figure:
    """Student test accuracy over temperature (log) × alpha.

    With enough trials a heatmap shows the mean accuracy per (T, alpha) cell, and the
    trials are drawn on top (a sample when there are more than ``max_points``).
    """
    title = "Student accuracy over temperature × alpha"
    done = [t for t in search_trials(trials) if t.student_test_acc is not None]
    pts = [(param_value(t, "temperature"), param_value(t, "alpha"), t) for t in done]
    pts = [p for p in pts if p[0] is not None and p[1] is not None]
    if not pts:
        return empty_figure(title, "no completed trials with a temperature and an alpha")
    temps = np.array([p[0] for p in pts])
    alphas = np.array([p[1] for p in pts])
    accs = np.array([p[2].student_test_acc for p in pts])
    log_t = bool(temps.min() > 0)
    notes = []
    fig = go.Figure()
    varies = np.ptp(temps) > 0 and np.ptp(alphas) > 0
    if varies and len(pts) >= MIN_FOR_HEATMAP:
        bins = int(min(12, max(3, math.sqrt(len(pts) / 2))))
        te, ae = _edges(temps, bins, log_t), _edges(alphas, bins, False)
        ti = np.clip(np.searchsorted(te, temps, side="right") - 1, 0, bins - 1)
        ai = np.clip(np.searchsorted(ae, alphas, side="right") - 1, 0, bins - 1)
        total, count = np.zeros((bins, bins)), np.zeros((bins, bins))
        np.add.at(total, (ai, ti), accs)
        np.add.at(count, (ai, ti), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, np.nan)
        fig.add_trace(go.Heatmap(  # x, y are the cell edges
            x=te, y=ae, z=mean, colorscale="Viridis",
            colorbar={"title": "mean test acc"}, zsmooth=False, hoverongaps=False,
            customdata=count, name="cell mean",
            hovertemplate="T≈%{x:.3g} alpha≈%{y:.2f}<br>mean acc %{z:.4f} "
                          "(%{customdata:.0f} trials)<extra></extra>"))
        notes.append(f"heatmap: mean of {len(pts):,} trials per {bins}×{bins} cell")
    trial_pts = [p[2] for p in pts]
    shown, note = sample(trial_pts, max_points, key=lambda t: t.student_test_acc)
    if note:
        notes.append(note)
    ids = {t.id for t in shown}
    sel = [p for p in pts if p[2].id in ids]
    heat = bool(fig.data)
    scatter = go.Scattergl if len(sel) > 1000 else go.Scatter
    fig.add_trace(scatter(
        x=[p[0] for p in sel], y=[p[1] for p in sel], mode="markers", name="trial",
        text=[f"{p[2].label}<br>test acc {p[2].student_test_acc:.4f}" for p in sel],
        hoverinfo="text+x+y",
        marker=({"color": "white", "size": 5, "line": {"width": 1, "color": "black"}}
                if heat else
                {"color": [p[2].student_test_acc for p in sel], "colorscale": "Viridis",
                 "size": 11, "showscale": True, "colorbar": {"title": "test acc"},
                 "line": {"width": 1, "color": "black"}})))
    base = sorted({t.experiment.baseline_test_acc for t in trials} - {None})
    if base:
        notes.append("student alone: " + ", ".join(f"{b:.4f}" for b in base))
    fig.update_layout(xaxis_title="temperature T", yaxis_title="alpha (weight of the KD term)",
                      xaxis_type="log" if log_t else "linear", showlegend=False, height=480)
    return set_title(fig, title, "; ".join(notes) or None)
