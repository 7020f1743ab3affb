"""Which method wins among comparable runs: a box (with points) per method, the student
alone as a line."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kd_automl.analysis._common import (
    comparable_key,
    comparable_label,
    empty_figure,
    pct,
    search_trials,
    set_title,
)
from kd_automl.store.records import TrialRecord

MAX_PAIRS = 6
MAX_BOX_POINTS = 500  # above this a box shows only its outliers
ALONE = "student alone"


def method_comparison(trials: Sequence[TrialRecord]) -> go.Figure:
    """Student test accuracy per method, one panel per group of comparable runs: the same
    dataset, teacher, student, seed (so split and teacher) and epochs.

    Each method is a box of its completed search trials; the student trained alone (the
    baseline of an experiment in the panel) is a dashed line across it. A box with more than
    ``MAX_BOX_POINTS`` trials shows only its outliers.
    """
    title = "Method comparison (student test accuracy, %)"
    rows = [t for t in search_trials(trials) if t.student_test_acc is not None]
    if not rows:
        return empty_figure(title, "no completed trials yet")
    groups: dict[tuple, dict[str, list[float]]] = {}
    for t in rows:
        groups.setdefault(comparable_key(t), {}).setdefault(t.method, []).append(
            pct(t.student_test_acc))
    alone: dict[tuple, list[float]] = {}
    for t in trials:
        if t.role == "baseline" and t.state == "complete" and t.student_test_acc is not None:
            alone.setdefault(comparable_key(t), []).append(pct(t.student_test_acc))
    keys = sorted(groups, key=lambda k: -sum(len(v) for v in groups[k].values()))
    notes = ["a panel holds runs that share dataset, teacher, student, seed and epochs"]
    if len(keys) > MAX_PAIRS:
        notes.append(f"the {MAX_PAIRS} groups with most trials of {len(keys)}")
        keys = keys[:MAX_PAIRS]
    cols = min(len(keys), 2)
    nrows = math.ceil(len(keys) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=[comparable_label(k) for k in keys],
                        vertical_spacing=0.15)
    methods = sorted({m for k in keys for m in groups[k]})
    colours = {m: f"hsl({int(360 * i / max(1, len(methods)))},55%,45%)"
               for i, m in enumerate(methods)}
    aggregated, legend = False, set()
    for i, key in enumerate(keys):
        r, c = divmod(i, cols)
        for m in sorted(groups[key]):
            ys = groups[key][m]
            many = len(ys) > MAX_BOX_POINTS
            aggregated |= many
            fig.add_trace(go.Box(y=ys, name=m, legendgroup=m, showlegend=m not in legend,
                                 boxpoints="outliers" if many else "all", jitter=0.4,
                                 pointpos=0, marker={"color": colours[m], "size": 5},
                                 boxmean=True),
                          row=r + 1, col=c + 1)
            legend.add(m)
        if key in alone:
            y = sum(alone[key]) / len(alone[key])
            label = ALONE + (f" (mean of {len(alone[key])})" if len(alone[key]) > 1 else "")
            fig.add_trace(go.Scatter(x=sorted(groups[key]), y=[y] * len(groups[key]),
                                     mode="lines+markers" if len(groups[key]) == 1 else "lines",
                                     name=ALONE, legendgroup=ALONE,
                                     showlegend=ALONE not in legend,
                                     line={"dash": "dash", "color": "#444", "width": 2},
                                     hovertemplate=f"{label}: %{{y:.2f}}<extra></extra>"),
                          row=r + 1, col=c + 1)
            legend.add(ALONE)
    if aggregated:
        notes.append(f"boxes with more than {MAX_BOX_POINTS} trials show outliers only")
    fig.update_yaxes(title_text="student test acc (%)", col=1)
    fig.update_layout(height=max(380, 340 * nrows))
    return set_title(fig, title, "; ".join(notes))
