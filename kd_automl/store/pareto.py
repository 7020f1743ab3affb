"""Objectives as the store records them, and the Pareto front of rows over them.

>>> non_dominated([(1, 0.9), (2, 0.95), (3, 0.9)], [False, True])
[0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kd_automl.results import METRIC_FIELDS as METRIC_ATTR  # metric -> column


def goals_of(spec: dict[str, Any] | None, metric: str, direction: str) -> list[tuple[str, bool]]:
    """``(attribute, maximize)`` per objective of a stored spec (``objectives``, else the
    experiment's own metric and direction)."""
    listed = (spec or {}).get("objectives") or [{"metric": metric, "direction": direction}]
    return [(METRIC_ATTR.get(o.get("metric", "val_acc"), "student_val_acc"),
             o.get("direction", "maximize") != "minimize") for o in listed]


def _dominates(a: Sequence[float], b: Sequence[float], up: Sequence[bool]) -> bool:
    better = False
    for x, y, u in zip(a, b, up, strict=True):
        if (x < y) if u else (x > y):
            return False
        better = better or x != y
    return better


def non_dominated(points: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[int]:
    """Indices of the points no other point dominates (ties: every copy stays)."""
    return [i for i, p in enumerate(points)
            if not any(_dominates(q, p, maximize) for j, q in enumerate(points) if j != i)]
