"""What a method is, without torch: its hyperparameters and the flags the engine reads.

The catalog (:mod:`kd_automl.distill.catalog`) holds one :class:`MethodInfo` per method;
``kd-automl methods`` and the spec checks read it, and each torch class takes its own from it
when it registers (:func:`kd_automl.distill.registry.register_method`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from kd_automl.errors import KDAutoMLError


@dataclass(frozen=True)
class HyperParameter:
    """One hyperparameter of a method: default, valid bounds, and a sensible search range."""

    default: float
    low: float | None = None
    high: float | None = None
    search: dict[str, Any] | None = None  # NNI-format suggestion, e.g. {"_type": "uniform", ...}
    doc: str = ""
    integer: bool = False
    flag: bool = False  # an on/off switch: true/false (or 1/0) in the spec
    choices: tuple[str, ...] = ()  # a named option: one of these strings

    def check(self, name: str, value: Any) -> None:
        if self.flag:
            if value not in (True, False):  # 1 and 0 compare equal to them
                raise KDAutoMLError(f"method.{name}: expected true or false, got {value!r}")
            return
        if self.choices:
            if value not in self.choices:
                raise KDAutoMLError(f"method.{name}: expected one of {', '.join(self.choices)}, "
                                    f"got {value!r}")
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise KDAutoMLError(f"method.{name}: expected a number, got {value!r}")
        if self.integer and not float(value).is_integer():
            raise KDAutoMLError(f"method.{name}: expected an integer, got {value!r}")
        if self.low is not None and value < self.low:
            raise KDAutoMLError(f"method.{name}: must be >= {self.low}, got {value}")
        if self.high is not None and value > self.high:
            raise KDAutoMLError(f"method.{name}: must be <= {self.high}, got {value}")


@dataclass(frozen=True)
class MethodInfo:
    """A method's metadata. ``needs_teacher`` (a frozen teacher is run), ``needs_features``
    (the teacher's intermediate features, so it runs per batch; a string names which),
    ``needs_assistant`` (a teacher-assistant chain), ``strong_view`` (a second, strongly
    augmented view per batch), ``fusable`` (its trials can train as a fused group),
    ``stochastic`` (its loss draws random numbers); ``paper`` and ``source`` (what its loss
    and defaults follow, docs/methods.md)."""

    name: str
    paper: str
    source: str = ""
    needs_teacher: bool = True
    needs_features: bool | str = False
    needs_assistant: bool = False
    strong_view: bool = False
    fusable: bool = False
    stochastic: bool = False
    hyperparameters: dict[str, HyperParameter] = field(default_factory=dict)


# what a registered class takes from its catalog entry (its ``name`` it declares itself)
BOUND = tuple(f.name for f in fields(MethodInfo) if f.name != "name")
