"""Multi-objective experiments: the trials over their first two objectives, with the front."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from kd_automl.analysis._common import (
    MAX_POINTS,
    empty_figure,
    is_accuracy,
    sample,
    search_trials,
    set_title,
    shown_value,
)
from kd_automl.store.pareto import goals_of, non_dominated
from kd_automl.store.records import TrialRecord

TITLE = "Objectives and their Pareto front"


def _objectives(t: TrialRecord) -> list[dict]:
    return list((t.experiment.spec or {}).get("objectives") or [])


def _shown(t: TrialRecord, field: str) -> float | None:
    return shown_value(field, getattr(t, field))


def _axis(metric: str) -> str:
    return f"{metric} (%)" if is_accuracy(metric) else metric


def objective_front(trials: Sequence[TrialRecord], max_points: int = MAX_POINTS) -> go.Figure:
    """Each multi-objective experiment's completed trials over its first two objectives,
    the non-dominated ones joined as its front."""
    done = [t for t in search_trials(trials) if len(_objectives(t)) > 1]
    if not done:
        return empty_figure(TITLE, "single-objective experiment(s): no trade-off between "
                                   "objectives (list several under 'objectives:')")
    by_exp: dict[str, list[TrialRecord]] = {}
    for t in done:
        by_exp.setdefault(t.experiment.name, []).append(t)
    fig, notes, axes = go.Figure(), [], None
    for name, ts in by_exp.items():
        e = ts[0].experiment
        goals = goals_of(e.spec, e.objective_metric, e.direction)
        metrics = [o["metric"] for o in _objectives(ts[0])]
        if axes is None:
            axes = metrics[:2]
        elif metrics[:2] != axes:
            notes.append(f"{name}: other objectives ({', '.join(metrics[:2])}), not drawn")
            continue
        if len(goals) > 2:
            notes.append(f"{name}: front over all {len(goals)} objectives, first two drawn")
        attrs = [a for a, _ in goals]
        ts = [t for t in ts if all(getattr(t, a) is not None for a in attrs)]
        front = [ts[i] for i in non_dominated([[float(getattr(t, a)) for a in attrs]
                                               for t in ts], [up for _, up in goals])]
        shown, note = sample(ts, max_points)
        if note:
            notes.append(f"{name}: {note}")
        x, y = attrs[0], attrs[1]
        fig.add_trace(go.Scatter(x=[_shown(t, x) for t in shown],
                                 y=[_shown(t, y) for t in shown], mode="markers",
                                 name=name, opacity=0.6, text=[t.label for t in shown]))
        front.sort(key=lambda t: (getattr(t, x), getattr(t, y)))
        fig.add_trace(go.Scatter(x=[_shown(t, x) for t in front],
                                 y=[_shown(t, y) for t in front], mode="lines+markers",
                                 name=f"{name}: Pareto front", text=[t.label for t in front],
                                 marker={"size": 9, "symbol": "diamond"}))
    if axes is None:
        return empty_figure(TITLE, "no completed trials yet")
    fig.update_layout(xaxis_title=_axis(axes[0]), yaxis_title=_axis(axes[1]))
    return set_title(fig, TITLE, "; ".join(notes) or None)
