"""ResKD figures: accuracy against compute for full and adaptive inference, and the search.

Built from store rows written by ``kd-automl reskd``: the ``role='reskd'`` ensemble
row (``extra.res_students``, ``extra.adaptive``) and the ``role='search'`` candidate
rows of ``method='reskd'`` (``extra.stage``, ``extra.gap_reduction``, ...).

>>> for key, fig in reskd_figures(store.trials()): fig.show()   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from kd_automl.analysis._common import empty_figure, pct, set_title
from kd_automl.store.records import TrialRecord

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def ensemble_rows(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The completed ResKD ensemble rows."""
    return [t for t in trials if t.role == "reskd" and t.state == "complete"
            and (t.extra or {}).get("res_students")]


def _label(t: TrialRecord) -> str:
    return f"{t.experiment.name} ({t.experiment.backend})"


def accuracy_vs_compute(trials: Sequence[TrialRecord], split: str = "test") -> go.Figure:
    """Accuracy against mean FLOPs per sample (fraction of the teacher's): one point per
    ensemble prefix (full inference), the adaptive-inference curve over confidence
    thresholds, the threshold picked on validation, and the teacher at 1.0."""
    title = f"ResKD: {split} accuracy vs compute (fraction of the teacher's FLOPs)"
    rows = ensemble_rows(trials)
    if not rows:
        return empty_figure(title, "no ResKD ensembles yet: run `kd-automl reskd SPEC`")
    fig = go.Figure()
    for i, t in enumerate(rows):
        color, name, ad = _COLORS[i % len(_COLORS)], _label(t), t.extra.get("adaptive") or {}
        full = ad.get(f"full_{split}") or []
        fig.add_trace(go.Scatter(
            x=[p["flops_frac"] for p in full], y=[pct(p["accuracy"]) for p in full],
            mode="lines+markers", name=f"{name}: full prefixes", legendgroup=name,
            line={"color": color}, marker={"size": 9},
            text=[f"{k + 1} res-student(s)" for k in range(len(full))],
            hovertemplate="%{text}<br>FLOPs %{x:.3f}<br>acc %{y:.2f}%<extra></extra>"))
        curve = sorted(ad.get(split) or [], key=lambda p: p["flops_frac"])
        fig.add_trace(go.Scatter(
            x=[p["flops_frac"] for p in curve], y=[pct(p["accuracy"]) for p in curve],
            mode="lines+markers", name=f"{name}: adaptive", legendgroup=name,
            line={"color": color, "dash": "dash"}, marker={"symbol": "diamond", "size": 7},
            text=[f"threshold {p['threshold']}" for p in curve],
            hovertemplate="%{text}<br>FLOPs %{x:.3f}<br>acc %{y:.2f}%<extra></extra>"))
        chosen = ad.get("chosen")
        if chosen and f"{split}_acc" in chosen:
            fig.add_trace(go.Scatter(
                x=[chosen[f"{split}_flops_frac"]], y=[pct(chosen[f"{split}_acc"])], mode="markers",
                name=f"{name}: threshold {chosen['threshold']} (picked on val)",
                legendgroup=name, marker={"color": color, "symbol": "star", "size": 16}))
        if split == "test" and t.teacher_test_acc is not None:
            fig.add_trace(go.Scatter(
                x=[1.0], y=[pct(t.teacher_test_acc)], mode="markers", name=f"{name}: teacher",
                legendgroup=name, marker={"color": color, "symbol": "square", "size": 11}))
    fig.update_layout(xaxis_title="mean FLOPs per sample / teacher FLOPs",
                      yaxis_title=f"{split} accuracy (%)", height=480)
    return set_title(fig, title)


def stage_search(trials: Sequence[TrialRecord]) -> go.Figure:
    """Every candidate architecture: its FLOPs fraction against the share of the residual's
    energy it removed, by stage; the members kept are circled."""
    title = "ResKD search: gap reduction vs res-student FLOPs, per stage"
    cands = [t for t in trials if t.role == "search" and t.method == "reskd"
             and t.state == "complete" and (t.extra or {}).get("gap_reduction") is not None]
    if not cands:
        return empty_figure(title, "no evaluated res-student candidates yet")
    kept = {(r.experiment_id, m["trial"]) for r in ensemble_rows(trials)
            for m in r.extra["res_students"]}
    fig = go.Figure()
    for stage in sorted({t.extra["stage"] for t in cands}):
        ts = [t for t in cands if t.extra["stage"] == stage]
        fig.add_trace(go.Scatter(
            x=[t.extra["res_student_flops_frac"] for t in ts],
            y=[t.extra["gap_reduction"] for t in ts], mode="markers", name=f"stage {stage}",
            marker={"size": [15 if (t.experiment_id, t.backend_trial_id) in kept else 8
                             for t in ts],
                    "line": {"width": [3 if (t.experiment_id, t.backend_trial_id) in kept else 0
                                       for t in ts], "color": "black"},
                    "color": _COLORS[(stage - 1) % len(_COLORS)]},
            text=[f"{t.experiment.name} {t.backend_trial_id}<br>{t.params}" for t in ts],
            hovertemplate="%{text}<br>FLOPs %{x:.3f}<br>gap reduction %{y:.3f}<extra></extra>"))
    fig.update_layout(xaxis_title="res-student FLOPs / teacher FLOPs",
                      yaxis_title="gap reduction (share of residual energy removed)", height=440)
    return set_title(fig, title, "circled: the res-student each stage kept")


def reskd_figures(trials: Sequence[TrialRecord]) -> list[tuple[str, go.Figure]]:
    """The ResKD figures in report order, as ``(key, figure)``; empty list without ResKD rows."""
    if not ensemble_rows(trials) and not any(t.method == "reskd" for t in trials):
        return []
    return [("reskd_compute", accuracy_vs_compute(trials)),
            ("reskd_search", stage_search(trials))]
