"""Helpers shared by the figure modules: trial selection, parameter access, sampling."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import plotly.graph_objects as go

from kd_automl.results import objective_field
from kd_automl.store.records import EpochRecord, ExperimentRecord, TrialRecord

MAX_POINTS = 5_000  # markers drawn per figure before sampling
MAX_LINES = 1_000  # lines of a parallel-coordinates plot before sampling
LOG_TYPES = {"loguniform", "qloguniform", "lognormal", "qlognormal"}
GREY = "#b0b0b0"
ACCURACY_FIELDS = {"student_val_acc", "student_test_acc", "teacher_test_acc", "gap"}


def empty_figure(title: str, message: str, height: int = 320) -> go.Figure:
    """A figure that says why there is nothing to show."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#666"})
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False},
                      height=height, meta={"empty": True})
    return fig


def set_title(fig: go.Figure, title: str, note: str | None = None) -> go.Figure:
    """Title plus an optional subtitle (used to say a figure sampled or aggregated)."""
    fig.update_layout(title={"text": title, **({"subtitle": {"text": note}} if note else {})},
                      margin={"t": 90 if note else 60})
    return fig


def note_of(fig: go.Figure) -> str:
    """The subtitle of ``fig`` ('' when it has none)."""
    sub = fig.layout.title.subtitle
    return (sub.text or "") if sub is not None else ""


def pct(v: float | None) -> float | None:
    """A fraction as a percentage (figures and tables show accuracies in %)."""
    return None if v is None else 100 * v


def is_accuracy(metric: str) -> bool:
    """Whether objective or per-epoch ``metric`` is an accuracy (shown in %)."""
    return objective_field(metric) in ACCURACY_FIELDS or metric.endswith("_acc")


def shown_value(metric: str, v: float | None) -> float | None:
    """``v`` of ``metric`` in the unit figures show (accuracies in %)."""
    return pct(v) if is_accuracy(metric) else v


def objective_shown(t: TrialRecord) -> float | None:
    """The trial's objective in the unit figures show (% for an accuracy)."""
    return shown_value(t.experiment.objective_metric, t.objective)


def objective_title(e: ExperimentRecord) -> str:
    """The axis title of an experiment's objective: ``student val_acc (%)``."""
    m = e.objective_metric
    return f"student {m} (%)" if is_accuracy(m) else f"student {m}"


def trial_numbers(trials: Sequence[TrialRecord]) -> tuple[list[int], bool]:
    """The x of each trial: its number as stored (the leaderboard's trial), when every one is
    a number; else its position in start order. The flag says whether they are stored."""
    ids = [t.backend_trial_id for t in trials]
    if all(str(i).lstrip("-").isdigit() for i in ids):
        return [int(i) for i in ids], True
    order = {t.id: i for i, t in enumerate(sorted(trials, key=lambda t: t.id))}
    return [order[t.id] for t in trials], False


by_objective = attrgetter("objective")  # a sort key: the record's objective value


def search_trials(trials: Iterable[TrialRecord], states: Iterable[str] | None = ("complete",)
                  ) -> list[TrialRecord]:
    """Search (not baseline) trials in ``states`` (all states when None)."""
    keep = set(states) if states is not None else None
    return [t for t in trials if t.role == "search" and (keep is None or t.state in keep)]


def completed(trials: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Completed search trials that have an objective value."""
    return [t for t in search_trials(trials) if t.objective is not None]


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def param_names(trials: Sequence[TrialRecord]) -> list[str]:
    """Searched parameter names seen in ``trials``, in first-seen order."""
    keys: dict[str, None] = {}
    for t in trials:
        for k in t.flat_params:
            keys.setdefault(k, None)
    return list(keys)


def search_entry(t: TrialRecord, name: str) -> dict[str, Any] | None:
    """The NNI search-space entry of flat parameter ``name`` in the trial's spec, if any."""
    space = (t.experiment.spec or {}).get("search") or {}
    if name in space:
        return space[name]
    head, _, leaf = name.rpartition(".")
    parent = space.get(head)
    if parent and parent.get("_type") == "choice":
        for option in parent["_value"]:
            if isinstance(option, dict) and isinstance(option.get(leaf), dict):
                return option[leaf]
    return None


def is_log_param(trials: Sequence[TrialRecord], name: str) -> bool:
    """Whether the search space samples ``name`` on a log scale."""
    for t in trials:
        entry = search_entry(t, name)
        if entry is not None:
            return entry.get("_type") in LOG_TYPES
    return False


def param_value(t: TrialRecord, leaf: str) -> float | None:
    """A numeric hyperparameter by its leaf name (``temperature``); the spec's when not
    searched."""
    for k, v in t.flat_params.items():
        if (k == leaf or k.endswith("." + leaf)) and is_number(v):
            return float(v)
    v = ((t.experiment.spec or {}).get("method") or {}).get(leaf)
    return float(v) if is_number(v) else None


def sample(trials: Sequence[TrialRecord], cap: int, key=by_objective, keep_best: int = 50,
           seed: int = 0) -> tuple[list[TrialRecord], str | None]:
    """At most ``cap`` trials: the best ``keep_best`` and a seeded random sample of the rest.

    Returns the trials (in their original order) and a note for the figure, or None when
    nothing was left out.
    """
    if len(trials) <= cap:
        return list(trials), None
    scored = [t for t in trials if key(t) is not None]
    best = set()
    if scored:
        up = scored[0].experiment.maximize
        best = {t.id for t in sorted(scored, key=key, reverse=up)[:min(keep_best, cap)]}
    rest = [t for t in trials if t.id not in best]
    picked = best | {t.id for t in random.Random(seed).sample(rest, cap - len(best))}
    out = [t for t in trials if t.id in picked]
    return out, f"showing {len(out):,} of {len(trials):,} trials (best {len(best)} " \
                "+ random sample)"


def epochs_of(t: TrialRecord) -> list[EpochRecord]:
    """The trial's per-epoch metrics, or [] when they were not loaded with it."""
    return list(t.epochs or ())


def curve(t: TrialRecord, name: str) -> tuple[list[int], list[float | None]]:
    """Epochs and values of one per-epoch metric of ``t``."""
    pts = sorted((m.epoch, m.value) for m in epochs_of(t) if m.name == name)
    return [p[0] for p in pts], [p[1] for p in pts]


def budget_of(t: TrialRecord) -> tuple[int | None, int | None]:
    """The trial's seed and epochs (the spec's, or what the trial searched)."""
    spec = t.experiment.spec or {}
    flat = t.flat_params
    seed = flat.get("seed", spec.get("seed"))
    epochs = flat.get("train.epochs", (spec.get("train") or {}).get("epochs"))
    return seed, epochs


def comparable_key(t: TrialRecord) -> tuple:
    """What runs must share to be compared: dataset, teacher, student, seed (the split and
    the teacher) and the epochs of training."""
    e = t.experiment
    return (e.dataset, e.teacher or "–", e.student, *budget_of(t))


def comparable_label(key: tuple) -> str:
    dataset, teacher, student, seed, epochs = key
    return f"{dataset}: {teacher} → {student}, seed {seed}, {epochs} epochs"


def search_space_key(t: TrialRecord) -> tuple[str, tuple[str, ...]]:
    """Trials with one key share their parameters' meaning: one method, one search space."""
    e = t.experiment
    return e.method, tuple(sorted(((e.spec or {}).get("search") or {}).keys()))


def one_search_space(trials: Sequence[TrialRecord]) -> tuple[list[TrialRecord], str | None]:
    """The trials of the search space (method and searched fields) with the most trials, so
    no axis mixes two methods' parameters; a note names what was left out."""
    groups: dict[tuple, list[TrialRecord]] = {}
    for t in trials:
        groups.setdefault(search_space_key(t), []).append(t)
    if len(groups) <= 1:
        return list(trials), None
    key = max(groups, key=lambda k: (len(groups[k]), k))
    others = sorted({t.experiment.name for k, ts in groups.items() if k != key for t in ts})
    left = sum(len(ts) for k, ts in groups.items() if k != key)
    return groups[key], (f"method {key[0]} only ({len(groups[key])} trials); {left} trials "
                         f"of other methods or search spaces left out ({', '.join(others)}): "
                         "their experiments' reports show them")


def shared_params(trials: Sequence[TrialRecord]) -> tuple[list[str], list[str]]:
    """Searched parameters every trial has (drawn), and those only some have (not drawn)."""
    flat = [t.flat_params for t in trials]
    names = param_names(trials)
    every = [k for k in names if all(f.get(k) is not None for f in flat)]
    return every, [k for k in names if k not in every]
