"""The spec's Optuna sampler and pruner: built from ``sampler:`` / ``pruner:``, checked early.

A sampler that cannot search the space (``grid`` on a continuous range, ``cmaes`` on a
choice) or the objectives (``cmaes`` with several) is one error at ``kd-automl check``.
Pruners use epochs as steps; ``hyperband`` and ``successive_halving`` use them as the
resource (``max_resource``: the spec's ``train.epochs``). Optuna prunes single-objective
studies only, so a multi-objective search runs unpruned (:func:`notes` says so).

>>> from kd_automl.spec import parse_spec                                 # doctest: +SKIP
>>> build_sampler(parse_spec(data), seed=0)                               # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
from typing import Any

import optuna

from kd_automl.errors import KDAutoMLError
from kd_automl.search.space import multiples_in


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler for ask/tell: a finished grid does not call ``study.stop()``
    (allowed only inside ``optimize``); further trials revisit grid points."""

    def after_trial(self, study, trial, state, values) -> None:
        with contextlib.suppress(RuntimeError):
            super().after_trial(study, trial, state, values)


SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
    "qmc": optuna.samplers.QMCSampler,
    "grid": GridSampler,
}
PRUNERS = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "none": optuna.pruners.NopPruner,
}
_SET_BY_US = {"seed", "search_space", "max_resource"}
_GRID_MAX = 100_000


def _options(kind: str, name: str, cls: type, given: dict[str, Any]) -> dict[str, Any]:
    allowed = [p for p in inspect.signature(cls).parameters if p not in _SET_BY_US]
    bad = [k for k in given if k not in allowed]
    if bad:
        raise KDAutoMLError(f"{kind}.{bad[0]}: not an option of the {name} {kind}; "
                            f"options: {', '.join(allowed) or 'none'}")
    return dict(given)


def _construct(kind: str, cls: type, kwargs: dict[str, Any]):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise KDAutoMLError(f"{kind}: {err}") from None


def build_sampler(spec, seed: int | None) -> optuna.samplers.BaseSampler:
    """The spec's sampler, seeded with ``seed`` (TPE: ``constant_liar`` on by default, so
    parallel workers spread out)."""
    name = spec.sampler.name
    cls = SAMPLERS[name]
    kwargs = _options("sampler", name, cls, spec.sampler.options)
    kwargs["seed"] = seed
    if name == "tpe":
        kwargs.setdefault("constant_liar", True)
    if name == "grid":
        kwargs["search_space"] = grid_space(spec.search)
    return _construct("sampler", cls, kwargs)


def build_pruner(spec) -> optuna.pruners.BasePruner:
    """The spec's pruner; none for a multi-objective spec."""
    name = "none" if spec.multi_objective else spec.pruner.name
    cls = PRUNERS[name]
    kwargs = _options("pruner", name, cls, spec.pruner.options)
    p = spec.pruner
    if name in ("median", "percentile"):
        kwargs.setdefault("n_startup_trials", p.startup_trials)
        kwargs.setdefault("n_warmup_steps", p.warmup_epochs)
        if name == "percentile":
            kwargs.setdefault("percentile", 25.0)
    elif name == "wilcoxon":
        kwargs.setdefault("n_startup_steps", p.warmup_epochs)
    elif name == "hyperband":
        kwargs["max_resource"] = spec.train.epochs
    return _construct("pruner", cls, kwargs)


def grid_space(space: dict[str, Any]) -> dict[str, list[Any]]:
    """Every Optuna parameter of a finite NNI space with its values (for ``GridSampler``)."""
    out: dict[str, list[Any]] = {}
    for key, entry in space.items():
        kind, value = entry["_type"], entry["_value"]
        if kind == "choice":
            if any(isinstance(o, dict) for o in value):
                raise KDAutoMLError(f"search.{key}: the grid sampler cannot search a nested "
                                    "choice (its fields exist only for one option)")
            primitive = all(isinstance(o, str | int | float | bool | type(None)) for o in value)
            out[key if primitive else f"{key}#index"] = list(value) if primitive \
                else list(range(len(value)))
        elif kind == "randint":
            out[key] = list(range(int(value[0]), int(value[1])))
        elif kind in ("quniform", "qloguniform"):
            lo, hi = multiples_in(*value)
            n = math.floor((hi - lo) / value[2] + 1e-9) + 1
            if n > 1:  # a single multiple is a constant, no parameter
                out[key] = [float(f"{lo + i * value[2]:.12g}") for i in range(n)]
        else:
            raise KDAutoMLError(f"search.{key}: the grid sampler needs a finite space, and "
                                f"{kind} is a continuous range; use choice, randint or "
                                "quniform/qloguniform")
    size = math.prod(len(v) for v in out.values())
    if size > _GRID_MAX:
        raise KDAutoMLError(f"search: the grid has {size:,} points (over {_GRID_MAX:,})")
    return out


def _check_cmaes(spec) -> None:
    if spec.multi_objective:
        raise KDAutoMLError("sampler cmaes: CMA-ES optimises one objective; use nsgaii, tpe, "
                            "gp or random for several")
    for key, entry in spec.search.items():
        if entry["_type"] == "choice":
            raise KDAutoMLError(f"search.{key}: the cmaes sampler cannot search a choice "
                                "(CMA-ES samples numbers); use tpe or gp, or a numeric range")
    if len(spec.search) < 2:
        raise KDAutoMLError("sampler cmaes: CMA-ES needs at least two searched fields "
                            "(Optuna would sample a single one at random)")


def check_strategy(spec, source: str = "<spec>") -> None:
    """Raise one :class:`KDAutoMLError` if the sampler or pruner cannot run this spec."""
    try:
        if spec.sampler.name == "cmaes":
            _check_cmaes(spec)
        build_sampler(spec, seed=0)
        build_pruner(spec)
        _options("pruner", spec.pruner.name, PRUNERS[spec.pruner.name], spec.pruner.options)
    except KDAutoMLError as err:
        raise KDAutoMLError(f"{source}: {err}") from None


def notes(spec) -> list[str]:
    """What the run will do differently from what the spec says (one line each)."""
    out = []
    if spec.multi_objective and spec.pruner.name != "none":
        out.append(f"pruner {spec.pruner.name} is not used: Optuna prunes single-objective "
                   "studies only, so this multi-objective search runs unpruned")
    return out
