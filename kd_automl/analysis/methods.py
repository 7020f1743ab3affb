"""Which method wins on which teacher/student pair: a box (with points) per method."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kd_automl.analysis._common import empty_figure, pct, search_trials, set_title
from kd_automl.store.records import TrialRecord

MAX_PAIRS = 6
MAX_BOX_POINTS = 500  # above this a box shows only its outliers
ALONE = "student alone"


def _pair(t: TrialRecord) -> str:
    e = t.experiment
    return f"{e.dataset}: {e.teacher or '–'} → {e.student}"


def method_comparison(trials: Sequence[TrialRecord]) -> go.Figure:
    """Student test accuracy per method, one panel per (dataset, teacher, student) pair.

    Completed search trials and the student trained alone (baseline) are shown; a box with
    more than ``MAX_BOX_POINTS`` trials shows only its outliers.
    """
    title = "Method comparison per teacher/student pair (student test accuracy, %)"
    rows = [t for t in search_trials(trials) if t.student_test_acc is not None]
    rows += [t for t in trials if t.role == "baseline" and t.state == "complete"
             and t.student_test_acc is not None]
    if not rows:
        return empty_figure(title, "no completed trials yet")
    groups: dict[str, dict[str, list[float]]] = {}
    for t in rows:
        m = ALONE if t.role == "baseline" else t.method
        groups.setdefault(_pair(t), {}).setdefault(m, []).append(pct(t.student_test_acc))
    pairs = sorted(groups, key=lambda p: -sum(len(v) for v in groups[p].values()))
    notes = []
    if len(pairs) > MAX_PAIRS:
        notes.append(f"the {MAX_PAIRS} pairs with most trials of {len(pairs)}")
        pairs = pairs[:MAX_PAIRS]
    cols = min(len(pairs), 2)
    nrows = math.ceil(len(pairs) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=pairs, vertical_spacing=0.15)
    methods = sorted({m for p in pairs for m in groups[p]}, key=lambda m: (m == ALONE, m))
    colours = {m: f"hsl({int(360 * i / max(1, len(methods)))},55%,45%)"
               for i, m in enumerate(methods)}
    aggregated = False
    for i, pair in enumerate(pairs):
        r, c = divmod(i, cols)
        for m in sorted(groups[pair], key=lambda m: (m == ALONE, m)):
            ys = groups[pair][m]
            many = len(ys) > MAX_BOX_POINTS
            aggregated |= many
            fig.add_trace(go.Box(y=ys, name=m, legendgroup=m, showlegend=i == 0,
                                 boxpoints="outliers" if many else "all", jitter=0.4,
                                 pointpos=0, marker={"color": colours[m], "size": 5},
                                 boxmean=True),
                          row=r + 1, col=c + 1)
    if aggregated:
        notes.append(f"boxes with more than {MAX_BOX_POINTS} trials show outliers only")
    fig.update_yaxes(title_text="student test acc (%)", col=1)
    fig.update_layout(height=max(380, 340 * nrows))
    return set_title(fig, title, "; ".join(notes) or None)
