"""Optimization history: each trial's objective at its stored trial number, the best so far,
and the references it must beat (the student alone, KD at the spec's defaults)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import plotly.graph_objects as go

from kd_automl.analysis._common import (
    GREY,
    MAX_POINTS,
    completed,
    empty_figure,
    objective_shown,
    objective_title,
    sample,
    search_trials,
    set_title,
    trial_numbers,
)
from kd_automl.store.records import TrialRecord

# the references drawn as horizontal lines, and their names
REFERENCES = {"alone": "student alone", "kd": "KD at defaults"}
_DASH = {"alone": "dash", "kd": "dot"}


def reference_of(t: TrialRecord) -> str | None:
    """Which reference a stored row is: the search's baseline and ``kd-automl confirm``'s
    student-alone runs are ``alone``; confirm's plain KD at the spec's defaults is ``kd``."""
    if t.role == "baseline":
        return "alone"
    if t.role == "confirm":  # extra["confirm"]["control"]: see orchestrate/confirm.py
        control = (t.extra.get("confirm") or {}).get("control")
        return control if control in REFERENCES else None
    return None


def references(trials: Sequence[TrialRecord]) -> dict[tuple[int, str], tuple[float, int]]:
    """Per (experiment id, reference) of :data:`REFERENCES`: the mean objective (in the
    figures' unit) of its completed rows, and how many there are (one per seed)."""
    vals: dict[tuple[int, str], list[float]] = {}
    for t in trials:
        kind = reference_of(t)
        if kind and t.state == "complete" and t.objective is not None:
            vals.setdefault((t.experiment_id, kind), []).append(objective_shown(t))
    return {k: (statistics.fmean(v), len(v)) for k, v in vals.items()}


def optimization_history(trials: Sequence[TrialRecord], max_points: int = MAX_POINTS) -> go.Figure:
    """Objective of each completed search trial at its stored trial number, the best-so-far
    line, and the student-alone and KD-at-defaults lines where the store has them.

    Pruned trials are grey crosses at the value their pruner stopped them on (never in the
    best-so-far line); failed ones, which have no value, are counted in the subtitle. The
    best-so-far line always uses every trial; with more than ``max_points`` trials the
    markers are a sample (said in the subtitle).
    """
    title = "Optimization history"
    done = completed(trials)
    if not done:
        return empty_figure(title, "no completed trials yet")
    by_exp: dict[str, list[TrialRecord]] = {}
    for t in done:
        by_exp.setdefault(t.experiment.name, []).append(t)
    refs = references(trials)
    fig = go.Figure()
    notes = []
    per_exp_cap = max(100, max_points // len(by_exp))
    for name, ts in by_exp.items():
        xs, stored = trial_numbers(ts)
        if not stored:
            notes.append(f"{name}: trial ids are not numbers, x is the start order")
        x_of = {t.id: x for t, x in zip(ts, xs, strict=True)}
        ts = sorted(ts, key=lambda t: x_of[t.id])
        up = ts[0].experiment.maximize
        best, line = None, []
        for y in map(objective_shown, ts):
            best = y if best is None else (max(best, y) if up else min(best, y))
            line.append(best)
        shown, note = sample(ts, per_exp_cap)
        if note:
            notes.append(f"{name}: {note}")
        marker = go.Scattergl if len(shown) > 1000 else go.Scatter
        fig.add_trace(marker(x=[x_of[t.id] for t in shown], y=[objective_shown(t) for t in shown],
                             mode="markers", name=f"{name}: trial", opacity=0.7,
                             text=[t.label for t in shown]))
        exp_id = ts[0].experiment_id
        pruned = [t for t in search_trials(trials, ("pruned",))
                  if t.experiment_id == exp_id and t.objective is not None]
        pruned, _ = sample(pruned, per_exp_cap)
        if pruned and stored:
            fig.add_trace(go.Scatter(
                x=[int(t.backend_trial_id) for t in pruned], y=[objective_shown(t) for t in pruned],
                mode="markers", name=f"{name}: pruned (value when stopped)",
                marker={"symbol": "x", "color": GREY, "size": 7}, text=[t.label for t in pruned]))
        counts = {s: sum(t.state == s and t.experiment_id == exp_id
                         for t in search_trials(trials, None)) for s in ("pruned", "failed")}
        if counts["pruned"] or counts["failed"]:
            notes.append(f"{name}: {len(ts)} complete, {counts['pruned']} pruned (grey ×), "
                         f"{counts['failed']} failed (no value)")
        span = [x_of[ts[0].id], x_of[ts[-1].id]]
        fig.add_trace(go.Scatter(x=[x_of[t.id] for t in ts], y=line, mode="lines",
                                 name=f"{name}: best so far", line={"shape": "hv"}))
        for kind, label in REFERENCES.items():
            ref = refs.get((ts[0].experiment_id, kind))
            if ref is None:
                continue
            y, n = ref
            label = f"{name}: {label}" + (f" (mean of {n})" if n > 1 else "")
            fig.add_trace(go.Scatter(x=span, y=[y, y], mode="lines", name=label,
                                     line={"dash": _DASH[kind], "width": 2},
                                     hovertemplate=f"{label}: %{{y:.2f}}<extra></extra>"))
    fig.update_layout(xaxis_title="trial # (as stored)",
                      yaxis_title=objective_title(done[0].experiment))
    return set_title(fig, title, "; ".join(notes) or None)
