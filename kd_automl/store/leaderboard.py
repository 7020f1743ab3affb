"""The leaderboard: search trials ranked by the experiment's objective (or another key).

>>> rows = leaderboard(store, dataset="digits", method="kd", top=10)       # doctest: +SKIP
>>> best = leaderboard(store, best_per_experiment=True)   # one row per experiment
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kd_automl.sort_keys import SORT_KEYS
from kd_automl.store.pareto import goals_of, non_dominated
from kd_automl.store.records import TrialRecord, flatten_params
from kd_automl.store.store import Store


@dataclass
class Row:
    rank: int
    experiment: str
    backend: str
    trial: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    student_val_acc: float | None = None
    student_test_acc: float | None = None
    teacher_test_acc: float | None = None
    gap: float | None = None
    gain: float | None = None  # student_test_acc minus the student trained alone
    student_params: int | None = None
    student_flops: int | None = None
    student_latency_ms: float | None = None
    state: str = "complete"
    dataset: str = ""
    teacher: str | None = None
    student: str = ""
    objective: float | None = None  # the experiment's objective metric of this trial
    wall_time_s: float | None = None
    error: str | None = None
    trial_id: int = 0  # the store's id (``Store.trials_by_id``)
    weights: str | None = None  # the kept student file (``kd-automl export`` ships it)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


COLUMNS = [f.name for f in fields(Row)]
STATES = ("complete", "pruned", "failed", "running")



def _matches(value: str | None, wanted: Iterable[str] | None, exact: bool) -> bool:
    if not wanted:
        return True
    v = (value or "").lower()
    return any(v == w.lower() if exact else w.lower() in v for w in wanted)


def _as_list(v: str | Iterable[str] | None) -> list[str] | None:
    if v is None:
        return None
    return [v] if isinstance(v, str) else list(v)


def _row(t: TrialRecord) -> Row:
    e = t.experiment
    return Row(rank=0, experiment=e.name, backend=e.backend, trial=t.backend_trial_id,
               method=t.method, params=t.params, student_val_acc=t.student_val_acc,
               student_test_acc=t.student_test_acc, teacher_test_acc=t.teacher_test_acc,
               gap=t.gap, gain=t.gain, student_params=t.student_params,
               student_flops=t.student_flops, student_latency_ms=t.student_latency_ms,
               state=t.state, dataset=e.dataset,
               teacher=e.teacher, student=e.student, objective=t.objective,
               wall_time_s=t.wall_time_s, error=t.error, trial_id=t.id,
               weights=None if t.weights is None else str(t.weights.path))


def _sort_key(sort: str, reverse: bool, directions: dict[tuple[str, str], bool]
              ) -> Callable[[Row], tuple]:
    if sort not in SORT_KEYS:
        raise ValueError(f"unknown sort key {sort!r}; use one of {', '.join(SORT_KEYS)}")
    attr, larger_better = SORT_KEYS[sort]

    def key(r: Row) -> tuple:
        v = getattr(r, attr)
        missing = v is None or (isinstance(v, float) and math.isnan(v))
        up = directions.get((r.experiment, r.backend), True) if sort == "objective" \
            else larger_better
        up = up != reverse
        signed = 0.0 if missing else (-v if up else v)
        tie = -(r.student_test_acc if r.student_test_acc is not None else -math.inf)
        return (missing, signed, tie, r.trial_id)

    return key


def leaderboard(store: Store, experiments: list[str] | None = None, top: int | None = None, *,
                dataset: str | Iterable[str] | None = None,
                teacher: str | Iterable[str] | None = None,
                student: str | Iterable[str] | None = None,
                method: str | Iterable[str] | None = None,
                backend: str | Iterable[str] | None = None,
                states: str | Iterable[str] | None = ("complete",),
                sort: str = "objective", reverse: bool = False,
                best_per_experiment: bool = False, pareto: bool = False,
                trials: list[TrialRecord] | None = None) -> list[Row]:
    """Search trials of ``experiments`` (all when None), ranked, best first.

    Filters: ``dataset``, ``backend``, ``method`` and ``states`` match exactly
    (case-insensitive; ``states=None`` or ``"all"`` keeps every state); ``teacher`` and
    ``student`` match a substring of the model description (``mlp`` matches
    ``mlp(width=8,depth=1)``). Each filter takes one value or several (any of them).
    ``sort`` is a key of :data:`SORT_KEYS` (``objective`` follows each experiment's
    direction; accuracies and gain rank high first, gap/params/flops/time low first;
    ``reverse`` flips that; trials without the value come last either way).
    ``best_per_experiment`` keeps the best trial (by objective) of each experiment: the
    cross-experiment view. ``pareto`` keeps the Pareto front of each experiment's
    objectives (its ``objectives``, else its one objective; rows missing a value drop out).
    ``trials`` reuses rows already loaded from ``store``.
    """
    exps = [e for e in store.experiments(experiments)
            if _matches(e.dataset, _as_list(dataset), True)
            and _matches(e.backend, _as_list(backend), True)
            and _matches(e.teacher, _as_list(teacher), False)
            and _matches(e.student, _as_list(student), False)]
    if not exps:
        return []
    ids = {e.id for e in exps}
    if trials is None:
        trials = store.trials(ids)
    trials = [t for t in trials if t.experiment_id in ids]
    wanted_states = _as_list(states)
    if wanted_states and "all" in wanted_states:
        wanted_states = None
    rows = [_row(t) for t in trials if t.role == "search"
            and _matches(t.state, wanted_states, True)
            and _matches(t.method, _as_list(method), True)]
    directions = {(e.name, e.backend): e.direction != "minimize" for e in exps}
    if pareto:
        rows = _pareto(rows, exps)
    if best_per_experiment:
        best: dict[tuple[str, str], Row] = {}
        by_objective = _sort_key("objective", False, directions)
        for r in sorted(rows, key=by_objective):
            best.setdefault((r.experiment, r.backend), r)
        rows = list(best.values())
    rows.sort(key=_sort_key(sort, reverse, directions))
    rows = rows[:top] if top else rows
    for i, r in enumerate(rows, start=1):
        r.rank = i
    return rows


def _pareto(rows: list[Row], exps: list) -> list[Row]:
    goals = {(e.name, e.backend): goals_of(e.spec, e.objective_metric, e.direction)
             for e in exps}
    by_exp: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        by_exp.setdefault((r.experiment, r.backend), []).append(r)
    out = []
    for key, rs in by_exp.items():
        attrs = [a for a, _ in goals[key]]
        rs = [r for r in rs if all(_number(getattr(r, a)) for a in attrs)]
        points = [[float(getattr(r, a)) for a in attrs] for r in rs]
        out += [rs[i] for i in non_dominated(points, [up for _, up in goals[key]])]
    return out


def _number(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


PARAM_PREFIX = "params."  # CSV: one column per hyperparameter, named params.<dotted key>


def csv_columns(rows: list[Row]) -> list[str]:
    """The CSV header: :data:`COLUMNS` with ``params`` replaced by one column per
    hyperparameter (nested choices flattened, keys sorted) that any row has."""
    keys = sorted({k for r in rows for k in flatten_params(r.params)})
    at = COLUMNS.index("params")
    return [*COLUMNS[:at], *(PARAM_PREFIX + k for k in keys), *COLUMNS[at + 1:]]


def rows_to_csv(rows: list[Row]) -> str:
    """CSV text of ``rows``, one column per hyperparameter (:func:`csv_columns`); a row
    without a hyperparameter leaves its cell empty."""
    buf = io.StringIO()
    w = csv.writer(buf)
    header = csv_columns(rows)
    w.writerow(header)
    for r in rows:
        d = r.to_dict()
        d.update({PARAM_PREFIX + k: v for k, v in flatten_params(d.pop("params")).items()})
        w.writerow(["" if d.get(c) is None else d[c] for c in header])
    return buf.getvalue()


def rows_to_json(rows: list[Row]) -> str:
    return json.dumps([r.to_dict() for r in rows], indent=2)


__all__ = ["COLUMNS", "PARAM_PREFIX", "SORT_KEYS", "STATES", "Row", "csv_columns",
           "leaderboard", "rows_to_csv", "rows_to_json"]
