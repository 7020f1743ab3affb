"""What distillation bought: teacher–student gap, KD gain, and accuracy against size."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kd_automl.analysis._common import (
    MAX_POINTS,
    empty_figure,
    pct,
    sample,
    search_trials,
    set_title,
    trial_numbers,
)
from kd_automl.store.records import TrialRecord

_SIZES = {"student_params": "student parameters", "student_flops": "student FLOPs"}


def _test_acc(t: TrialRecord) -> float | None:
    return t.student_test_acc


def gap_and_gain(trials: Sequence[TrialRecord], max_points: int = MAX_POINTS) -> go.Figure:
    """Per completed trial: teacher–student gap (top) and KD gain over the student trained
    alone (bottom), in points of test accuracy, at the stored trial numbers."""
    title = "Teacher–student gap and KD gain per trial"
    done = [t for t in search_trials(trials) if t.student_test_acc is not None]
    if not done:
        return empty_figure(title, "no completed trials with a test accuracy yet")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("gap = teacher − student test accuracy (points)",
                                        "gain = student test accuracy − student alone "
                                        "(points)"))
    notes = []
    by_exp: dict[str, list[TrialRecord]] = {}
    for t in sorted(done, key=lambda t: t.id):
        by_exp.setdefault(t.experiment.name, []).append(t)
    cap = max(100, max_points // len(by_exp))
    for name, ts in by_exp.items():
        numbers, stored = trial_numbers(ts)
        index = {t.id: x for t, x in zip(ts, numbers, strict=True)}
        if not stored:
            notes.append(f"{name}: trial ids are not numbers, x is the start order")
        shown, note = sample(ts, cap, key=_test_acc)
        if note:
            notes.append(f"{name}: {note}")
        xs = [index[t.id] for t in shown]
        text = [t.label for t in shown]
        kind = go.Scattergl if len(shown) > 1000 else go.Scatter
        fig.add_trace(kind(x=xs, y=[pct(t.gap) for t in shown], mode="markers", name=name,
                           legendgroup=name, text=text), row=1, col=1)
        if ts[0].experiment.baseline_test_acc is None:
            notes.append(f"{name}: no student-alone baseline, so no gain")
            continue
        fig.add_trace(kind(x=xs, y=[pct(t.gain) for t in shown], mode="markers",
                           name=name, legendgroup=name, showlegend=False, text=text),
                      row=2, col=1)
    fig.add_hline(y=0, line_dash="dash", line_color="#888", row=2, col=1)
    fig.update_xaxes(title_text="trial # (as stored)", row=2, col=1)
    fig.update_layout(height=560)
    return set_title(fig, title, "; ".join(notes) or None)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (size, accuracy) points no other point beats on both (smaller and more accurate),
    by increasing size."""
    front: list[tuple[float, float]] = []
    for size, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or acc > front[-1][1]:
            front.append((size, acc))
    return front


def fixed_size(trials: Sequence[TrialRecord], size: str = "student_params") -> str | None:
    """Why there is no size trade-off to draw (one line), or None when the student's size
    varies among ``trials`` (within an experiment, or between the experiments shown)."""
    sizes = {getattr(t, size) for t in trials}
    if len(sizes) > 1:
        return None
    many = len({t.experiment_id for t in trials}) > 1
    return (f"the student's size is fixed{' (the same in every experiment)' if many else ''}: "
            f"{next(iter(sizes)):,} {_SIZES[size].removeprefix('student ')}; search a size "
            "field (student.width, ...) to see accuracy against size")


def accuracy_vs_size(trials: Sequence[TrialRecord], size: str = "student_params",
                     max_points: int = MAX_POINTS) -> go.Figure:
    """Student test accuracy (%) against student size (params or FLOPs), with the Pareto
    front; an empty figure saying why when the size is fixed."""
    if size not in _SIZES:
        raise ValueError(f"size must be one of {sorted(_SIZES)}")
    what = _SIZES[size]
    title = f"Accuracy vs {what} (Pareto front)"
    done = [t for t in search_trials(trials)
            if t.student_test_acc is not None and getattr(t, size)]
    if not done:
        return empty_figure(title, f"no completed trials with {what} recorded")
    fixed = fixed_size(done, size)
    if fixed:
        return empty_figure(title, fixed)
    front = pareto_front([(float(getattr(t, size)), t.student_test_acc) for t in done])
    shown, note = sample(done, max_points, key=_test_acc)
    fig = go.Figure()
    by_method: dict[str, list[TrialRecord]] = {}
    for t in shown:
        by_method.setdefault(t.method, []).append(t)
    kind = go.Scattergl if len(shown) > 1000 else go.Scatter
    for method, ts in sorted(by_method.items()):
        fig.add_trace(kind(x=[getattr(t, size) for t in ts],
                           y=[pct(t.student_test_acc) for t in ts],
                           mode="markers", name=method, opacity=0.75,
                           text=[t.label for t in ts]))
    alone = [t for t in trials if t.role == "baseline" and t.state == "complete"
             and t.student_test_acc is not None and getattr(t, size)]
    if alone:
        fig.add_trace(go.Scatter(x=[getattr(t, size) for t in alone],
                                 y=[pct(t.student_test_acc) for t in alone], mode="markers",
                                 name="student alone", text=[t.label for t in alone],
                                 marker={"symbol": "x", "size": 10, "color": "black"}))
    fig.add_trace(go.Scatter(x=[p[0] for p in front], y=[pct(p[1]) for p in front],
                             mode="lines+markers", name="Pareto front",
                             line={"shape": "hv", "color": "crimson", "width": 2},
                             marker={"size": 9, "symbol": "diamond"}))
    sizes = [float(getattr(t, size)) for t in done]
    log = min(sizes) > 0 and max(sizes) / min(sizes) > 10
    fig.update_layout(xaxis_title=what, yaxis_title="student test accuracy (%)",
                      xaxis_type="log" if log else "linear")
    return set_title(fig, title, note)


def size_figures(trials: Sequence[TrialRecord]) -> list[tuple[str, go.Figure]]:
    """Accuracy against params and against FLOPs; when neither varies, one empty figure
    whose one line says the student's size is fixed (no empty Pareto panel)."""
    figs = [("pareto_params", accuracy_vs_size(trials, "student_params")),
            ("pareto_flops", accuracy_vs_size(trials, "student_flops"))]
    done = [t for t in search_trials(trials) if t.student_test_acc is not None
            and t.student_params and t.student_flops]
    if not done or fixed_size(done, "student_params") is None \
            or fixed_size(done, "student_flops") is None:
        return figs
    many = len({t.experiment_id for t in done}) > 1
    return [("pareto", empty_figure(
        "Accuracy vs student size (Pareto front)",
        f"the student's size is fixed{' (the same in every experiment)' if many else ''}: "
        f"{done[0].student_params:,} parameters, {done[0].student_flops:,} FLOPs; search a "
        "size field (student.width, ...) to see accuracy against size"))]
