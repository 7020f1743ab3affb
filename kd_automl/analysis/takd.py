"""TAKD figures: student accuracy against the teacher assistant's size, and the accuracy of
every model of each trial's chain (teacher → assistant(s) → student).

Built from completed ``method='takd'`` search trials (``extra.assistants``: one entry per
assistant, teacher side first, with ``model``, ``test_acc`` and ``params``). The
no-assistant line is the best completed ``kd`` trial on the same dataset, teacher and
student (from ``trials`` or ``reference``); the student-alone line is the experiment's
baseline row.

>>> for key, fig in takd_figures(store.trials()): fig.show()   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean
from typing import Any

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from kd_automl.analysis._common import (
    MAX_LINES,
    MAX_POINTS,
    empty_figure,
    param_value,
    pct,
    sample,
    search_trials,
    set_title,
)
from kd_automl.store.records import TrialRecord

_EMPTY = "no completed TAKD trials yet: run a spec with method takd (e.g. " \
         "search_spaces/digits_takd.yaml)"


def _chain(t: TrialRecord) -> list[dict[str, Any]]:
    return [a for a in (t.extra or {}).get("assistants") or [] if isinstance(a, dict)]


def takd_trials(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Completed TAKD search trials that recorded their assistant chain."""
    return [t for t in search_trials(trials) if t.method == "takd"
            and t.student_test_acc is not None and _chain(t)]


def describe(model: dict[str, Any]) -> str:
    """``{"arch": "cnn", "width": 8}`` -> ``cnn(width=8)``."""
    size = ",".join(f"{k}={v}" for k, v in model.items() if k != "arch")
    return f"{model.get('arch', '?')}({size})" if size else str(model.get("arch", "?"))


def assistant_size(t: TrialRecord) -> float | None:
    """Parameters of the assistant next to the student (the x-axis of the paper's figure)."""
    p = _chain(t)[-1].get("params")
    return float(p) if isinstance(p, int | float) else None


def chain_text(t: TrialRecord) -> str:
    return " → ".join(describe(a.get("model") or {}) for a in _chain(t))


def _pair(t: TrialRecord) -> tuple[str, str | None, str]:
    e = t.experiment
    return e.dataset, e.teacher, e.student


def kd_reference(trials: Sequence[TrialRecord]
                 ) -> dict[tuple[str, str | None, str], tuple[float, str]]:
    """Per (dataset, teacher, student): the test accuracy of KD without an assistant, and a
    label saying where it came from.

    From a search (``kd`` trials with different hyperparameters): the best trial by its
    experiment's objective. From replicates (all with the same hyperparameters, e.g. seeds
    of a benchmark): their mean.
    """
    groups: dict[tuple[str, str | None, str], list[TrialRecord]] = {}
    for t in search_trials(trials):
        if t.method == "kd" and t.student_test_acc is not None and t.objective is not None:
            groups.setdefault(_pair(t), []).append(t)
    out = {}
    for pair, ts in groups.items():
        if len({repr(sorted((t.params or {}).items())) for t in ts}) == 1:
            out[pair] = (mean(t.student_test_acc for t in ts),
                         f"KD, no assistant (mean of {len(ts)}: {ts[0].experiment.name})")
            continue
        best = max(ts, key=lambda t: t.objective if t.experiment.direction != "minimize"
                   else -t.objective)
        out[pair] = (best.student_test_acc,
                     f"KD, no assistant (best of {len(ts)}: {best.label})")
    return out


def alone(trials: Sequence[TrialRecord]) -> dict[int, tuple[float, int]]:
    """Per experiment id: mean test accuracy of its completed student-alone (baseline) rows
    and how many there are."""
    rows: dict[int, list[float]] = {}
    for t in trials:
        if t.role == "baseline" and t.state == "complete" and t.student_test_acc is not None:
            rows.setdefault(t.experiment_id, []).append(t.student_test_acc)
    return {k: (mean(v), len(v)) for k, v in rows.items()}


def _hover(t: TrialRecord) -> str:
    hop = [f"{k}={v:.3g}" for k in ("temperature", "alpha", "assistant_temperature",
                                    "assistant_alpha")
           if (v := param_value(t, k)) is not None]
    accs = ", ".join(f"{100 * a['test_acc']:.1f}" for a in _chain(t)
                     if isinstance(a.get("test_acc"), int | float))
    return (f"{t.label}<br>{chain_text(t)}<br>assistant acc {accs}<br>"
            f"{' '.join(hop)}")


def student_vs_assistant_size(trials: Sequence[TrialRecord], reference: Sequence[TrialRecord] = (),
                              colour: str = "temperature",
                              max_points: int = MAX_POINTS) -> go.Figure:
    """Student test accuracy against the assistant's parameter count (Mirzadeh et al., Fig.).

    One point per completed TAKD trial, coloured by ``colour`` (a hop hyperparameter:
    ``temperature``, ``alpha``, ``assistant_temperature``, ``assistant_alpha``); a line
    through the best trial (by the objective) of each assistant size; horizontal lines for
    KD without an assistant (a ``kd`` experiment on the same pair, in ``trials`` or
    ``reference``) and for the student trained alone (the experiment's baseline).
    """
    title = "TAKD: student accuracy vs teacher-assistant size"
    done = [t for t in takd_trials(trials) if assistant_size(t) is not None]
    if not done:
        return empty_figure(title, _EMPTY)
    shown, note = sample(done, max_points, key=lambda t: t.student_test_acc)
    notes = [note] if note else []
    fig = go.Figure()
    values = [param_value(t, colour) for t in shown]
    has_colour = any(v is not None for v in values)
    kind = go.Scattergl if len(shown) > 1000 else go.Scatter
    fig.add_trace(kind(
        x=[assistant_size(t) for t in shown], y=[pct(t.student_test_acc) for t in shown],
        mode="markers", name="TAKD trial", text=[_hover(t) for t in shown],
        hovertemplate="%{text}<br>assistant params %{x:,}<br>student acc %{y:.2f}%"
                      "<extra></extra>",
        marker={"size": 8, "opacity": 0.75,
                **({"color": [v if v is not None else float("nan") for v in values],
                    "colorscale": "Viridis", "showscale": True,
                    "colorbar": {"title": {"text": colour}}} if has_colour else {})}))
    exps: dict[int, list[TrialRecord]] = {}
    for t in done:
        exps.setdefault(t.experiment_id, []).append(t)
    base = alone(trials)
    kd_line = kd_reference([*trials, *reference])
    for i, (exp_id, ts) in enumerate(sorted(exps.items())):
        name = ts[0].experiment.name
        prefix = f"{name}: " if len(exps) > 1 else ""
        best: dict[float, TrialRecord] = {}
        for t in ts:
            size, cur = assistant_size(t), best.get(assistant_size(t))
            if cur is None or (t.objective or 0) > (cur.objective or 0):
                best[size] = t
        xs = sorted(best)
        fig.add_trace(go.Scatter(x=xs, y=[pct(best[x].student_test_acc) for x in xs],
                                 mode="lines+markers", name=f"{prefix}best trial per size",
                                 line={"color": "crimson", "width": 2},
                                 marker={"symbol": "diamond", "size": 10},
                                 text=[chain_text(best[x]) for x in xs]))
        dash = ("dash", "dot", "dashdot", "longdash")[i % 4]
        kd = kd_line.get(_pair(ts[0]))
        if kd is not None:
            _hline(fig, kd[0], f"{prefix}{kd[1]}", "#1f77b4", dash)
        else:
            notes.append(f"{name}: no kd experiment on this teacher/student pair "
                         "(run one for the no-assistant line)")
        if exp_id in base:
            acc, n = base[exp_id]
            _hline(fig, acc, f"{prefix}student alone" + (f" (mean of {n})" if n > 1 else ""),
                   "black", dash)
        else:
            notes.append(f"{name}: no student-alone baseline")
    sizes = [assistant_size(t) or 0.0 for t in done]
    log = min(sizes) > 0 and max(sizes) / min(sizes) > 10
    fig.update_layout(xaxis_title="assistant parameters (the assistant next to the student)",
                      yaxis_title="student test accuracy (%)",
                      xaxis_type="log" if log else "linear", height=480,
                      legend={"orientation": "h", "y": -0.2})
    return set_title(fig, title, "; ".join(notes) or None)


def _hline(fig: go.Figure, y: float, name: str, colour: str, dash: str) -> None:
    """A horizontal reference line at accuracy ``y`` (a fraction, drawn in %) that shows in
    the legend (add_hline does not)."""
    y = 100 * y
    fig.add_trace(go.Scatter(x=[0, 1], y=[y, y], xaxis="x2", mode="lines", name=name,
                             line={"color": colour, "dash": dash, "width": 2},
                             hovertemplate=f"{name}: %{{y:.2f}}%<extra></extra>"))
    fig.update_layout(xaxis2={"overlaying": "x", "range": [0, 1], "visible": False})


def _positions(n_assistants: int) -> list[str]:
    return ["teacher", *(["assistant"] if n_assistants == 1 else
                         [f"assistant {i + 1}" for i in range(n_assistants)]), "student"]


def chain_accuracy(trials: Sequence[TrialRecord], max_lines: int = MAX_LINES) -> go.Figure:
    """Teacher → assistant(s) → student test accuracy, one line per completed TAKD trial
    (coloured by the size of the assistant next to the student), and the mean per assistant
    chain as a thick line."""
    title = "TAKD: teacher → assistant → student accuracy per trial"
    done = takd_trials(trials)
    if not done:
        return empty_figure(title, _EMPTY)
    shown, note = sample(done, max_lines, key=lambda t: t.student_test_acc)
    sizes = [s for t in done if (s := assistant_size(t)) is not None]
    lo, hi = (min(sizes), max(sizes)) if sizes else (0.0, 1.0)

    def colour(t: TrialRecord) -> str:
        s = assistant_size(t)
        if s is None or hi == lo:
            return "#1f77b4"
        return sample_colorscale("Viridis", [(s - lo) / (hi - lo)])[0]

    def ys(t: TrialRecord) -> list[float | None]:
        return [pct(v) for v in (t.teacher_test_acc, *[a.get("test_acc") for a in _chain(t)],
                                 t.student_test_acc)]

    fig = go.Figure()
    order: list[str] = []
    for t in shown:
        xs = _positions(len(_chain(t)))
        order += [x for x in xs if x not in order]
        fig.add_trace(go.Scatter(x=xs, y=ys(t), mode="lines+markers", opacity=0.35,
                                 line={"color": colour(t), "width": 1}, marker={"size": 5},
                                 name=t.label, showlegend=False, text=_hover(t),
                                 hovertemplate="%{text}<br>%{x}: %{y:.2f}%<extra></extra>"))
    groups: dict[str, list[TrialRecord]] = {}
    for t in done:
        groups.setdefault(f"{t.experiment.name}: {chain_text(t)}", []).append(t)
    for name, ts in sorted(groups.items(), key=lambda g: assistant_size(g[1][0]) or 0):
        rows = [ys(t) for t in ts]
        avg = [mean(v) if (v := [r[i] for r in rows if r[i] is not None]) else None
               for i in range(len(rows[0]))]
        fig.add_trace(go.Scatter(x=_positions(len(_chain(ts[0]))), y=avg, mode="lines+markers",
                                 name=f"{name} (mean of {len(ts)})",
                                 line={"color": colour(ts[0]), "width": 4},
                                 marker={"size": 9}))
    base = alone(trials)
    solo = [base[e][0] for e in {t.experiment_id for t in done} if e in base]
    if solo:
        fig.add_trace(go.Scatter(x=["student"] * len(solo), y=[pct(v) for v in solo],
                                 mode="markers", name="student alone",
                                 marker={"symbol": "x", "size": 12, "color": "black"}))
    fig.update_layout(xaxis={"categoryorder": "array", "categoryarray": order},
                      yaxis_title="test accuracy (%)", height=480)
    return set_title(fig, title, note)


def takd_figures(trials: Sequence[TrialRecord], reference: Sequence[TrialRecord] = ()
                 ) -> list[tuple[str, go.Figure]]:
    """The TAKD figures in report order, as ``(key, figure)``; empty list without TAKD
    trials. ``reference`` may hold other experiments' trials (for the no-assistant line)."""
    if not any(t.method == "takd" for t in search_trials(trials, states=None)):
        return []
    return [("takd_size", student_vs_assistant_size(trials, reference)),
            ("takd_chain", chain_accuracy(trials))]


__all__ = ["alone", "assistant_size", "chain_accuracy", "kd_reference", "student_vs_assistant_size",
           "takd_figures", "takd_trials"]
