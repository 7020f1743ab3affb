"""Temperature × alpha: where the KD search's two core knobs put the objective it optimised.

Two panels: the trials themselves (a scatter coloured by the objective) and a heatmap of
the mean objective per (T, alpha) cell with the number of trials written in each cell.
Cells are equal-width in log T (linear T when a temperature is not positive) and in alpha
over the range the trials cover; an empty cell stays blank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kd_automl.analysis._common import (
    MAX_POINTS,
    completed,
    empty_figure,
    objective_shown,
    objective_title,
    one_search_space,
    param_value,
    sample,
    set_title,
)
from kd_automl.analysis.history import references
from kd_automl.store.records import TrialRecord

MIN_FOR_HEATMAP = 6  # trials before the heatmap is drawn
MAX_BINS = 8  # per axis: the counts must stay readable in the cells


def _edges(values: np.ndarray, bins: int, log: bool) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if log:
        return np.geomspace(lo, hi, bins + 1)
    return np.linspace(lo, hi, bins + 1)


def bin_count(n: int) -> int:
    """Cells per axis for ``n`` trials: about three trials per cell, 2 to ``MAX_BINS``."""
    return int(min(MAX_BINS, max(2, round(math.sqrt(n / 3)))))


def binned_mean(temps: np.ndarray, alphas: np.ndarray, values: np.ndarray, bins: int,
                log_t: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges of T and alpha, and the mean and count of ``values`` per cell ([alpha, T])."""
    te, ae = _edges(temps, bins, log_t), _edges(alphas, bins, False)
    ti = np.clip(np.searchsorted(te, temps, side="right") - 1, 0, bins - 1)
    ai = np.clip(np.searchsorted(ae, alphas, side="right") - 1, 0, bins - 1)
    total, count = np.zeros((bins, bins)), np.zeros((bins, bins), dtype=int)
    np.add.at(total, (ai, ti), values)
    np.add.at(count, (ai, ti), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return te, ae, mean, count


def temperature_alpha(trials: Sequence[TrialRecord], max_points: int = MAX_POINTS) -> go.Figure:
    """The objective over temperature × alpha: the trials (left) and the binned mean with
    counts (right). Experiments with another objective than the first one's are left out
    (said in the subtitle)."""
    title = "Objective over temperature × alpha"
    done = [t for t in completed(trials)
            if param_value(t, "temperature") is not None and param_value(t, "alpha") is not None]
    done, left = one_search_space(done)  # one method: its alpha means one thing
    pts = [(param_value(t, "temperature"), param_value(t, "alpha"), t) for t in done]
    if not pts:
        return empty_figure(title, "no completed trials with a temperature and an alpha")
    notes = [left] if left else []
    exp = pts[0][2].experiment
    method = exp.method
    other = {p[2].experiment.name for p in pts
             if p[2].experiment.objective_metric != exp.objective_metric}
    if other:
        notes.append(f"left out (another objective): {', '.join(sorted(other))}")
        pts = [p for p in pts if p[2].experiment.objective_metric == exp.objective_metric]
    temps = np.array([p[0] for p in pts])
    alphas = np.array([p[1] for p in pts])
    values = np.array([objective_shown(p[2]) for p in pts])
    log_t = bool(temps.min() > 0)
    what = objective_title(exp).removeprefix("student ")
    lo, hi = float(values.min()), float(values.max())
    scale = {"colorscale": "Viridis", "reversescale": not exp.maximize}  # one scale, both
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=("trials", "mean per cell (n = trials in the cell)"))
    shown, note = sample([p[2] for p in pts], max_points, key=lambda t: t.objective)
    if note:
        notes.append(note)
    ids = {t.id for t in shown}
    sel = [p for p in pts if p[2].id in ids]
    scatter = go.Scattergl if len(sel) > 1000 else go.Scatter
    fig.add_trace(scatter(
        x=[p[0] for p in sel], y=[p[1] for p in sel], mode="markers", name="trial",
        text=[f"{p[2].label}<br>{what} {objective_shown(p[2]):.2f}" for p in sel],
        hoverinfo="text+x+y",
        marker={"color": [objective_shown(p[2]) for p in sel], "size": 9, **scale,
                "cmin": lo, "cmax": hi,
                "showscale": False, "line": {"width": 1, "color": "black"}}), row=1, col=1)
    varies = np.ptp(temps) > 0 and np.ptp(alphas) > 0
    if varies and len(pts) >= MIN_FOR_HEATMAP:
        bins = bin_count(len(pts))
        te, ae, mean, count = binned_mean(temps, alphas, values, bins, log_t)
        label = "%{z:.1f}<br>n=%{text}" if bins <= 5 else "n=%{text}"
        fig.add_trace(go.Heatmap(  # x, y are the cell edges
            x=te, y=ae, z=mean, **scale, zmin=lo, zmax=hi, colorbar={"title": what}, zsmooth=False,
            hoverongaps=False, text=count.astype(str), texttemplate=label, name="cell mean",
            hovertemplate="T %{x:.3g}, alpha %{y:.2f}<br>mean " + what
                          + " %{z:.2f} (n=%{text})<extra></extra>"), row=1, col=2)
        notes.append(f"heatmap: mean of {len(pts):,} trials in {bins}×{bins} cells "
                     f"({'log ' if log_t else ''}T × alpha)")
    else:
        fig.layout.annotations[1].text = "heatmap: needs T and alpha varying over " \
                                         f"{MIN_FOR_HEATMAP} trials"
        fig.data[0].marker.showscale = True
        fig.data[0].marker.colorbar = {"title": what}
    drawn = {p[2].experiment_id for p in pts}
    alone = sorted(y for (exp_id, kind), (y, _) in references(trials).items()
                   if kind == "alone" and exp_id in drawn)
    if len(alone) == 1:
        notes.append(f"student alone: {alone[0]:.2f} ({what})")
    elif alone:
        notes.append(f"student alone: {alone[0]:.2f}-{alone[-1]:.2f} over {len(alone)} "
                     f"experiments ({what})")
    searched = {k for p in pts for k in p[2].flat_params}
    hidden = sorted(k for k in searched if k.rpartition(".")[2] not in ("temperature", "alpha"))
    if hidden:
        notes.append(f"also searched, not shown (they vary too): {', '.join(hidden)}")
    fig.update_xaxes(title_text="temperature T", type="log" if log_t else "linear")
    fig.update_yaxes(title_text=f"alpha ({method}'s own)", col=1)
    fig.update_layout(showlegend=False, height=480)
    return set_title(fig, title, "; ".join(notes) or None)
