"""Per-epoch curves: learning curves of selected trials and one trial's loss terms.

These need trials loaded with their epochs (``Store.trials(..., with_epochs=True)`` or
``Store.trials_by_id(ids, with_epochs=True)``); :func:`pick_for_curves` chooses which.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from kd_automl.analysis._common import (
    GREY,
    by_objective,
    curve,
    empty_figure,
    epochs_of,
    is_accuracy,
    search_trials,
    set_title,
    shown_value,
)
from kd_automl.store.records import TrialRecord

MAX_CURVES = 40
_FAILED = "#d62728"


def pick_for_curves(trials: Sequence[TrialRecord], best: int = 10, others: int = 10) -> list[int]:
    """Store ids worth a learning curve: the ``best`` completed trials and the latest
    ``others`` pruned or failed ones."""
    done = [t for t in search_trials(trials) if t.objective is not None]
    if done:
        done.sort(key=by_objective, reverse=done[0].experiment.maximize)
    stopped = [t for t in search_trials(trials, ("pruned", "failed"))][-others:]
    return [t.id for t in done[:best]] + [t.id for t in stopped]


def learning_curves(trials: Sequence[TrialRecord], metric: str = "val_acc",
                    max_curves: int = MAX_CURVES) -> go.Figure:
    """``metric`` per epoch, one line per trial; pruned trials grey, failed ones red dotted."""
    title = f"Learning curves ({metric})"
    with_curve = [t for t in trials if any(m.name == metric for m in epochs_of(t))]
    if not with_curve:
        return empty_figure(title, f"no per-epoch {metric} recorded for the selected trials")
    note = None
    if len(with_curve) > max_curves:
        keep = set(pick_for_curves(with_curve, best=max_curves // 2, others=max_curves // 2))
        note = f"showing {len(keep)} of {len(with_curve)} trials (best + latest stopped)"
        with_curve = [t for t in with_curve if t.id in keep]
    fig = go.Figure()
    seen: set[str] = set()
    for t in sorted(with_curve, key=lambda t: (t.state == "complete", t.id)):
        xs, ys = curve(t, metric)
        ys = [shown_value(metric, y) for y in ys]
        if t.state == "complete":
            style, group = {}, None
        elif t.state == "pruned":
            style, group = {"color": GREY, "width": 1}, "pruned"
        else:
            style, group = {"color": _FAILED, "width": 1, "dash": "dot"}, t.state
        fig.add_scatter(x=xs, y=ys, mode="lines+markers", marker={"size": 4}, line=style,
                        name=group or t.label, legendgroup=group,
                        showlegend=group is None or group not in seen,
                        hovertext=f"{t.label} ({t.state})", hoverinfo="text+x+y")
        if group:
            seen.add(group)
    fig.update_layout(xaxis_title="epoch",
                      yaxis_title=f"{metric} (%)" if is_accuracy(metric) else metric)
    return set_title(fig, title, note)


def loss_terms(trial: TrialRecord) -> go.Figure:
    """Every ``train_*`` loss term of one trial per epoch (kd, ce, hint, ...)."""
    title = f"Loss terms of {trial.label}"
    names = sorted({m.name for m in epochs_of(trial) if m.name.startswith("train_")})
    if not names:
        return empty_figure(title, "no per-epoch loss terms recorded for this trial")
    fig = go.Figure()
    for name in names:
        xs, ys = curve(trial, name)
        dash = "dash" if name == "train_loss" else None
        fig.add_scatter(x=xs, y=ys, mode="lines+markers", name=name.removeprefix("train_"),
                        line={"dash": dash})
    fig.update_layout(xaxis_title="epoch", yaxis_title="loss (epoch mean)")
    return set_title(fig, title)


def trial_curves(trial: TrialRecord) -> go.Figure:
    """Every non-loss per-epoch metric of one trial (val_acc, lr, member accuracies...)."""
    title = f"Per-epoch metrics of {trial.label}"
    names = sorted({m.name for m in epochs_of(trial) if not m.name.startswith("train_")})
    if not names:
        return empty_figure(title, "no per-epoch metrics recorded for this trial")
    fig = go.Figure()
    for name in names:
        xs, ys = curve(trial, name)
        fig.add_scatter(x=xs, y=[shown_value(name, y) for y in ys], mode="lines+markers",
                        name=f"{name} (%)" if is_accuracy(name) else name,
                        yaxis="y2" if name == "lr" else "y")
    fig.update_layout(xaxis_title="epoch", yaxis_title="value (accuracies in %)",
                      yaxis2={"title": "lr", "overlaying": "y", "side": "right",
                              "showgrid": False},
                      # below the plot: at the top right it covered the lr axis's top tick
                      legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0})
    return set_title(fig, title)
