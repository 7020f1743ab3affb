"""Map an NNI-format search space onto Optuna ``trial.suggest_*`` calls.

Each NNI type keeps its prior:

* ``choice`` -> ``suggest_categorical`` (non-primitive options by index; nested
  choices suggest their own parameters under ``name/option/param``),
* ``randint [a, b)`` -> ``suggest_int(a, b - 1)``,
* ``uniform``/``loguniform`` -> ``suggest_float`` (``log=True``),
* ``quniform`` -> ``suggest_float(step=q)`` on the multiples of ``q`` inside the range,
* ``qloguniform`` -> ``suggest_float(log=True)`` then rounded to a multiple of ``q``,
* ``normal``/``lognormal`` (and their ``q`` forms) -> a uniform quantile
  ``name#q`` in (0, 1) pushed through the inverse normal CDF, so random
  sampling reproduces NNI's prior exactly and TPE still models it.

>>> import optuna
>>> study = optuna.create_study()
>>> trial = study.ask()
>>> params = suggest_params(trial, {"alpha": {"_type": "uniform", "_value": [0, 1]}})
>>> 0 <= params["alpha"] <= 1
True
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from kd_automl.search.space import multiples_in

if TYPE_CHECKING:  # only in annotations: the spec imports this package without Optuna
    import optuna

_PRIMITIVE = (str, int, float, bool, type(None))
_QUANTILE_EPS = 1e-6


def suggest_params(trial: optuna.Trial, space: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Sample one point of ``space`` through ``trial``; returns NNI-shaped values."""
    return {name: _suggest(trial, prefix + name, entry) for name, entry in space.items()}


def _quantize(value: float, q: float, low: float | None = None, high: float | None = None):
    out = round(value / q) * q
    if low is not None:
        out = max(out, low)
    if high is not None:
        out = min(out, high)
    return _clean(out)


def _clean(x: float) -> float:
    """Remove float noise from a quantized value (0.30000000000000004 -> 0.3)."""
    return float(f"{x:.12g}")


def _suggest(trial: optuna.Trial, name: str, entry: dict[str, Any]) -> Any:
    kind, value = entry["_type"], entry["_value"]
    if kind == "choice":
        return _suggest_choice(trial, name, value)
    if kind == "randint":
        return trial.suggest_int(name, int(value[0]), int(value[1]) - 1)
    if kind == "uniform":
        return trial.suggest_float(name, float(value[0]), float(value[1]))
    if kind == "loguniform":
        return trial.suggest_float(name, float(value[0]), float(value[1]), log=True)
    if kind == "quniform":
        low, high, q = value
        lo, hi = multiples_in(low, high, q)
        if math.isclose(lo, hi):
            return _clean(lo)
        return _clean(trial.suggest_float(name, _clean(lo), _clean(hi), step=q))
    if kind == "qloguniform":
        low, high, q = value
        raw = trial.suggest_float(name, float(low), float(high), log=True)
        return _quantize(raw, q, *multiples_in(low, high, q))
    # normal family: a uniform quantile through the inverse normal CDF
    mu, sigma = float(value[0]), float(value[1])
    u = trial.suggest_float(f"{name}#q", _QUANTILE_EPS, 1 - _QUANTILE_EPS)
    x = NormalDist(mu, sigma).inv_cdf(u)
    if kind == "normal":
        return x
    if kind == "qnormal":
        return _quantize(x, value[2])
    if kind == "lognormal":
        return math.exp(x)
    return _quantize(math.exp(x), value[2])  # qlognormal


def _suggest_choice(trial: optuna.Trial, name: str, options: list[Any]) -> Any:
    if any(isinstance(o, dict) for o in options):
        labels = [o["_name"] if isinstance(o, dict) else o for o in options]
        if len(set(map(str, labels))) != len(labels):
            labels = list(range(len(options)))
        label = trial.suggest_categorical(name, labels)
        option = options[labels.index(label)]
        if not isinstance(option, dict):
            return option
        nested = {k: v for k, v in option.items() if k != "_name"}
        return {"_name": option["_name"],
                **suggest_params(trial, nested, prefix=f"{name}/{option['_name']}/")}
    if all(isinstance(o, _PRIMITIVE) for o in options):
        return trial.suggest_categorical(name, list(options))
    index = trial.suggest_categorical(f"{name}#index", list(range(len(options))))
    return options[index]
