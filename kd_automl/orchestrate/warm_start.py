"""Warm start: the best points of earlier experiments as a new study's first trials.

Researchers re-tune the temperature and the loss weights for every new teacher/student
pair; the best point of the last pair is a strong first guess. :func:`warm_start_points`
takes the best complete search trial (by its own objective) of each earlier experiment of
the same method in the store, nearest pair first:

1. the same dataset,
2. then the same architectures (teacher and student ``arch``),
3. then the closest sizes: the sum of ``|log2(a / b)|`` over the teacher's and the
   student's numeric options (``width``, ``depth``, ...; an option only one side has
   counts 1),
4. then the newest experiment.

Of each point only the parameters this spec searches, with a value its range or choices
allow, are kept; Optuna samples the rest. :func:`enqueue` hands them to
``study.enqueue_trial`` (a point the study already holds is skipped).

>>> points = warm_start_points(store, spec, limit=3)      # doctest: +SKIP
>>> for line in enqueue(study, points): print(line)       # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from kd_automl.search.space import multiples_in
from kd_automl.spec import ExperimentSpec, resolve_key
from kd_automl.store import ExperimentRecord, Store, TrialRecord, format_params

DEFAULT_POINTS = 3  # warm-start points taken by default: a few first guesses, then the sampler


@dataclass(frozen=True)
class WarmPoint:
    """One earlier trial's point, as this study's parameters."""

    experiment: str
    backend: str
    trial: str
    params: dict[str, Any]  # NNI-shaped values by this spec's search keys
    optuna_params: dict[str, Any]  # the same, as Optuna's parameter names and values

    def describe(self) -> str:
        return (f"warm start: {format_params(self.params)} from {self.experiment} "
                f"#{self.trial} ({self.backend})")


def _size_distance(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float:
    a, b = a or {}, b or {}
    out = 0.0
    for key in (set(a) | set(b)) - {"arch"}:
        x, y = a.get(key), b.get(key)
        if isinstance(x, int | float) and isinstance(y, int | float) and x > 0 and y > 0:
            out += abs(math.log2(x / y))
        elif x != y:
            out += 1.0
    return out


def nearness(spec: ExperimentSpec, exp: ExperimentRecord) -> tuple:
    """Sort key of an earlier experiment: smaller is nearer (see the module's rule)."""
    mine = spec.to_dict()
    theirs = exp.spec or {}
    archs = sum((mine.get(s) or {}).get("arch") != (theirs.get(s) or {}).get("arch")
                for s in ("teacher", "student"))
    size = sum(_size_distance(mine.get(s), theirs.get(s)) for s in ("teacher", "student"))
    return (exp.dataset != spec.dataset.name, archs, size, -exp.created_at.timestamp())


def _optuna_value(key: str, entry: dict[str, Any], value: Any) -> tuple[str, Any] | None:
    """Optuna's parameter name and value for ``value`` of search entry ``entry`` (as
    :mod:`kd_automl.search.optuna_map` suggests it), or None when the space cannot hold it."""
    kind, spec_value = entry["_type"], entry["_value"]
    if kind == "choice":
        if any(isinstance(o, dict) for o in spec_value):
            return None  # nested choices: left to the sampler
        if value not in spec_value:
            return None
        if all(isinstance(o, str | int | float | bool | type(None)) for o in spec_value):
            return key, value
        return f"{key}#index", spec_value.index(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind == "randint":
        low, high = spec_value
        return (key, int(value)) if value == int(value) and low <= value < high else None
    if kind in ("uniform", "loguniform"):
        low, high = spec_value
        return (key, float(value)) if low <= value <= high else None
    if kind in ("quniform", "qloguniform"):
        low, high, q = spec_value
        lo, hi = multiples_in(low, high, q)
        on_grid = math.isclose(value / q, round(value / q), abs_tol=1e-9)
        return (key, float(value)) if on_grid and lo <= value <= hi else None
    mu, sigma = float(spec_value[0]), float(spec_value[1])  # normal family: its quantile
    if kind in ("lognormal", "qlognormal"):
        if value <= 0:
            return None
        value = math.log(value)
    u = NormalDist(mu, sigma).cdf(value)
    return (f"{key}#q", u) if 1e-6 <= u <= 1 - 1e-6 else None


def translate(spec: ExperimentSpec, params: dict[str, Any]) -> tuple[dict, dict]:
    """The part of ``params`` (an earlier trial's) this spec's search can take: NNI-shaped
    values by this spec's keys, and Optuna's names and values."""
    theirs = {resolve_key(spec, k): v for k, v in params.items()}
    nni, optuna = {}, {}
    for key, entry in spec.search.items():
        path = resolve_key(spec, key)
        if path not in theirs:
            continue
        mapped = _optuna_value(key, entry, theirs[path])
        if mapped is not None:
            nni[key] = theirs[path]
            optuna[mapped[0]] = mapped[1]
    return nni, optuna


def _best(trials: list[TrialRecord], exp: ExperimentRecord) -> TrialRecord | None:
    done = [t for t in trials if t.experiment_id == exp.id and t.objective is not None]
    sign = -1.0 if exp.maximize else 1.0
    return min(done, key=lambda t: (sign * t.objective, t.id), default=None)


def warm_start_points(store: Store, spec: ExperimentSpec, *, exclude: str | None = None,
                      limit: int = DEFAULT_POINTS) -> list[WarmPoint]:
    """The best point of each earlier experiment of ``spec``'s method (not ``exclude``, the
    study's own experiment), nearest pair first, at most ``limit``, no point twice."""
    method = spec.method.name
    exps = [e for e in store.experiments() if not (e.name == exclude and e.backend == "optuna")]
    trials = store.trials([e.id for e in exps], role="search", states=["complete"])
    out: list[WarmPoint] = []
    seen: list[dict] = []
    for exp in sorted(exps, key=lambda e: nearness(spec, e)):
        best = _best(trials, exp)
        if best is None or best.method != method:
            continue
        nni, optuna = translate(spec, best.params)
        if not optuna or optuna in seen:
            continue
        seen.append(optuna)
        out.append(WarmPoint(exp.name, exp.backend, best.backend_trial_id, nni, optuna))
        if len(out) >= limit:
            break
    return out


def enqueue(study, points: list[WarmPoint]) -> list[str]:
    """Enqueue ``points`` as the study's next trials (skipping any it holds already);
    returns one line per point enqueued."""
    import warnings

    lines = []
    for p in points:
        before = len(study.get_trials(deepcopy=False))
        with warnings.catch_warnings():  # a partial point: Optuna samples the rest
            warnings.simplefilter("ignore")
            study.enqueue_trial(p.optuna_params, skip_if_exists=True, user_attrs={
                "warm_start": f"{p.experiment} #{p.trial} ({p.backend})"})
        if len(study.get_trials(deepcopy=False)) > before:
            lines.append(p.describe())
    return lines


__all__ = ["DEFAULT_POINTS", "WarmPoint", "enqueue", "nearness", "translate",
           "warm_start_points"]
