"""NNI's search-space format: validation and sampling-free inspection.

A search space maps a name (here: a dotted path into the experiment spec) to
``{"_type": ..., "_value": [...]}``. Supported types are NNI's: ``choice``
(with nested spaces), ``randint``, ``uniform``, ``quniform``, ``loguniform``,
``qloguniform``, ``normal``, ``qnormal``, ``lognormal``, ``qlognormal``.

>>> validate_space({"method.temperature": {"_type": "loguniform", "_value": [1, 20]}})
"""

from __future__ import annotations

import math
from typing import Any

from kd_automl.errors import KDAutoMLError

NUMERIC_TYPES = {
    "randint": 2,
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "normal": 2,
    "qnormal": 3,
    "lognormal": 2,
    "qlognormal": 3,
}
SUPPORTED_TYPES = ("choice", *NUMERIC_TYPES)


def multiples_in(low: float, high: float, q: float) -> tuple[float, float]:
    """The smallest and largest multiple of ``q`` inside ``[low, high]`` (float-noise tolerant).

    The first exceeds the second when the range holds no multiple of ``q``.
    """
    return math.ceil(low / q - 1e-9) * q, math.floor(high / q + 1e-9) * q


def validate_space(space: Any, where: str = "search") -> None:
    """Raise :class:`KDAutoMLError` naming the bad entry if ``space`` is not a valid NNI space."""
    if not isinstance(space, dict):
        raise KDAutoMLError(f"{where}: a search space must be a mapping of name -> "
                            "{_type, _value}")
    for name, entry in space.items():
        _validate_entry(entry, f"{where}.{name}")


def _validate_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict) or "_type" not in entry or "_value" not in entry:
        raise KDAutoMLError(f"{where}: expected {{_type: ..., _value: [...]}}, got {entry!r}")
    kind, value = entry["_type"], entry["_value"]
    if kind not in SUPPORTED_TYPES:
        raise KDAutoMLError(
            f"{where}: unsupported _type {kind!r}; use one of {', '.join(SUPPORTED_TYPES)}"
        )
    if not isinstance(value, list | tuple) or not value:
        raise KDAutoMLError(f"{where}: _value must be a non-empty list, got {value!r}")
    if kind == "choice":
        for i, option in enumerate(value):
            if isinstance(option, dict):
                if "_name" not in option:
                    raise KDAutoMLError(
                        f"{where}._value[{i}]: a nested choice needs a '_name' key"
                    )
                nested = {k: v for k, v in option.items() if k != "_name"}
                validate_space(nested, f"{where}[{option['_name']}]")
        return
    expected = NUMERIC_TYPES[kind]
    if len(value) != expected:
        raise KDAutoMLError(f"{where}: {kind} takes {expected} numbers, got {list(value)!r}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise KDAutoMLError(f"{where}: {kind} bounds must be numbers, got {list(value)!r}")
    if not all(math.isfinite(v) for v in value):
        raise KDAutoMLError(f"{where}: {kind} bounds must be finite, got {list(value)!r}")
    if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        if value[1] <= 0:
            raise KDAutoMLError(f"{where}: {kind} needs sigma > 0, got {value[1]}")
    else:
        low, high = value[0], value[1]
        if not low < high:
            raise KDAutoMLError(f"{where}: {kind} needs low < high, got [{low}, {high}]")
        if kind == "randint" and not (float(low).is_integer() and float(high).is_integer()):
            raise KDAutoMLError(f"{where}: randint bounds must be integers, got {list(value)!r}")
        if kind in ("loguniform", "qloguniform") and low <= 0:
            raise KDAutoMLError(f"{where}: {kind} needs low > 0, got {low}")
    if kind.startswith("q"):
        q = value[2]
        if q <= 0:
            raise KDAutoMLError(f"{where}: {kind} needs q > 0, got {q}")
        if kind in ("quniform", "qloguniform"):
            low, high = value[0], value[1]
            lo, hi = multiples_in(low, high, q)
            if hi < lo - 1e-9 * q:
                raise KDAutoMLError(
                    f"{where}: {kind} range [{low}, {high}] holds no multiple of q={q}"
                )


def default_point(space: dict[str, Any]) -> dict[str, Any]:
    """A deterministic point of the space (first choice, lower bound / mean), for checks."""
    point: dict[str, Any] = {}
    for name, entry in space.items():
        kind, value = entry["_type"], entry["_value"]
        if kind == "choice":
            first = value[0]
            if isinstance(first, dict):
                nested = {k: v for k, v in first.items() if k != "_name"}
                point[name] = {"_name": first["_name"], **default_point(nested)}
            else:
                point[name] = first
        elif kind == "randint":
            point[name] = int(value[0])
        elif kind in ("uniform", "loguniform"):
            point[name] = float(value[0])
        elif kind in ("quniform", "qloguniform"):
            point[name] = multiples_in(*value)[0]
        elif kind in ("normal", "qnormal"):
            point[name] = float(value[0])
        else:  # lognormal, qlognormal
            point[name] = math.exp(value[0])
    return point


def edge_points(entry: dict[str, Any]) -> list[Any]:
    """The values of one entry worth checking: every choice, both ends of a range."""
    kind, value = entry["_type"], entry["_value"]
    if kind == "choice":
        return [{"_name": o["_name"], **default_point({k: v for k, v in o.items() if k != "_name"})}
                if isinstance(o, dict) else o for o in value]
    if kind == "randint":
        return [int(value[0]), int(value[1]) - 1]
    if kind in ("uniform", "loguniform"):
        return [float(value[0]), float(value[1])]
    if kind in ("quniform", "qloguniform"):
        return list(multiples_in(*value))
    return []  # the normal family is unbounded
