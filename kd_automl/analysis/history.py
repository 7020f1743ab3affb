"""Optimization history: the objective of each trial in order, with the best-so-far line."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from kd_automl.analysis._common import (
    MAX_POINTS,
    completed,
    empty_figure,
    sample,
    set_title,
)
from kd_automl.store.records import TrialRecord


def optimization_history(trials: Sequence[TrialRecord], max_points: int = MAX_POINTS) -> go.Figure:
    """Objective of each completed search trial in order, with the best-so-far line.

    The best-so-far line always uses every trial; with more than ``max_points`` trials the
    markers are a sample (said in the subtitle).
    """
    title = "Optimization history"
    done = completed(trials)
    if not done:
        return empty_figure(title, "no completed trials yet")
    by_exp: dict[str, list[TrialRecord]] = {}
    for t in sorted(done, key=lambda t: t.id):
        by_exp.setdefault(t.experiment.name, []).append(t)
    fig = go.Figure()
    notes = []
    per_exp_cap = max(100, max_points // len(by_exp))
    for name, ts in by_exp.items():
        ys = [t.objective for t in ts]
        up = ts[0].experiment.maximize
        best, line = None, []
        for y in ys:
            best = y if best is None else (max(best, y) if up else min(best, y))
            line.append(best)
        index = {t.id: i for i, t in enumerate(ts)}
        shown, note = sample(ts, per_exp_cap)
        if note:
            notes.append(f"{name}: {note}")
        marker = go.Scattergl if len(shown) > 1000 else go.Scatter
        fig.add_trace(marker(x=[index[t.id] for t in shown], y=[t.objective for t in shown],
                             mode="markers", name=f"{name}: trial", opacity=0.7,
                             text=[t.label for t in shown]))
        fig.add_trace(go.Scatter(x=list(range(len(ts))), y=line, mode="lines",
                                 name=f"{name}: best so far", line={"shape": "hv"}))
    metric = done[0].experiment.objective_metric
    fig.update_layout(xaxis_title="completed trial #", yaxis_title=f"student {metric}")
    return set_title(fig, title, "; ".join(notes) or None)
