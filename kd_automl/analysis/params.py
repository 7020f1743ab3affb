"""How searched hyperparameters relate to the objective: parallel coordinates and slices."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kd_automl.analysis._common import (
    MAX_LINES,
    MAX_POINTS,
    completed,
    empty_figure,
    is_log_param,
    is_number,
    objective_shown,
    objective_title,
    one_search_space,
    sample,
    set_title,
    shared_params,
)
from kd_automl.store.records import TrialRecord

MAX_SLICES = 8
# the trials' order, light to dark blue: the first trials stay visible on a white background
TRIAL_ORDER = [[0.0, "#9ecae1"], [1.0, "#08306b"]]


def _dimension(name: str, values: list) -> dict | None:
    """A parcoords dimension; categorical values become ticks. None when nothing varies."""
    present = [v for v in values if v is not None]
    if len(set(map(str, present))) < 2:
        return None
    if all(is_number(v) for v in present):
        return {"label": name, "values": [math.nan if v is None else float(v) for v in values]}
    cats = sorted({str(v) for v in present})
    code = {c: i for i, c in enumerate(cats)}
    return {"label": name, "values": [math.nan if v is None else code[str(v)] for v in values],
            "tickvals": list(range(len(cats))), "ticktext": cats}


def _drawable(trials: Sequence[TrialRecord]) -> tuple[list[TrialRecord], list[str], list[str]]:
    """The completed trials of one search space, the parameters all of them have, and notes
    (what was left out, and the parameters some trials lack)."""
    done, note = one_search_space(completed(trials))
    names, partial = shared_params(done)
    notes = [note] if note else []
    if partial:
        notes.append(f"not drawn (only some trials have them): {', '.join(partial)}")
    return done, names, notes


def parallel_coordinates(trials: Sequence[TrialRecord], max_lines: int = MAX_LINES) -> go.Figure:
    """Searched parameters against the objective, one line per completed trial (one method's
    search space, and only the parameters every drawn trial has: no axis mixes meanings)."""
    title = "Parallel coordinates of searched parameters"
    done, names, notes = _drawable(trials)
    if not done:
        return empty_figure(title, "no completed trials yet")
    shown, note = sample(done, max_lines)
    notes += [note] if note else []
    note = "; ".join(notes) or None
    flat = [t.flat_params for t in shown]
    dims = [d for k in names if (d := _dimension(k, [f.get(k) for f in flat]))]
    if not dims:
        return empty_figure(title, "no searched parameter varies across completed trials")
    obj = [objective_shown(t) for t in shown]
    dims.append({"label": objective_title(done[0].experiment).removeprefix("student "),
                 "values": obj})
    fig = go.Figure(go.Parcoords(line={"color": obj, "colorscale": "Viridis", "showscale": True},
                                 dimensions=dims))
    set_title(fig, title, note)
    fig.update_layout(margin={"t": 130 if note else 110})  # room for the axis labels
    return fig


def slice_plot(trials: Sequence[TrialRecord], max_points: int = MAX_POINTS) -> go.Figure:
    """One panel per searched parameter: objective against that parameter's value."""
    title = "Slice plot"
    done, names, notes = _drawable(trials)
    if not done:
        return empty_figure(title, "no completed trials yet")
    shown, note = sample(done, max_points)
    note = "; ".join(notes + ([note] if note else [])) or None
    flat = [t.flat_params for t in shown]
    names = [k for k in names
             if len({str(f.get(k)) for f in flat if f.get(k) is not None}) >= 2]
    if not names:
        return empty_figure(title, "no searched parameter varies across completed trials")
    if len(names) > MAX_SLICES:
        note = "; ".join(filter(None, [note, f"first {MAX_SLICES} of {len(names)} parameters"]))
        names = names[:MAX_SLICES]
    cols = min(len(names), 4)
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, shared_yaxes=True,
                        horizontal_spacing=0.04, vertical_spacing=0.18)
    order = {t.id: i for i, t in enumerate(shown)}
    scatter = go.Scattergl if len(shown) > 1000 else go.Scatter
    for i, name in enumerate(names):
        r, c = divmod(i, cols)
        pts = [(f[name], t) for f, t in zip(flat, shown, strict=True) if f.get(name) is not None]
        fig.add_trace(scatter(
            x=[v if is_number(v) else str(v) for v, _ in pts],
            y=[objective_shown(t) for _, t in pts],
            mode="markers", showlegend=False, text=[t.label for _, t in pts],
            marker={"color": [order[t.id] for _, t in pts],
                    "colorscale": TRIAL_ORDER, "size": 6, "opacity": 0.8,
                    "showscale": i == 0, "colorbar": {"title": "trial"}}),
            row=r + 1, col=c + 1)
        if is_log_param(shown, name) and all(is_number(v) and v > 0 for v, _ in pts):
            fig.update_xaxes(type="log", row=r + 1, col=c + 1)
    fig.update_yaxes(title_text=objective_title(done[0].experiment), col=1)
    fig.update_layout(height=max(360, 300 * rows))
    return set_title(fig, title, note)
