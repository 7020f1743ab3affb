"""What a trial returns, and the objective metrics' fields: plain data, no torch (the store
and the read commands import it without the engine)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["complete", "pruned", "failed"]

# objective metric -> the TrialResult field (and store column) that holds it
METRIC_FIELDS = {
    "val_acc": "student_val_acc",
    "test_acc": "student_test_acc",
    "student_params": "student_params",
    "student_flops": "student_flops",
    "student_latency_ms": "student_latency_ms",
    "wall_time_s": "wall_time_s",
}


def objective_field(metric: str) -> str:
    """The field holding objective ``metric`` (``val_acc`` -> ``student_val_acc``)."""
    return METRIC_FIELDS.get(metric, metric)


@dataclass
class TrialResult:
    """Everything one trial measured. Accuracies are fractions in [0, 1]."""

    status: Status = "complete"
    student_val_acc: float | None = None
    student_test_acc: float | None = None
    teacher_test_acc: float | None = None
    gap: float | None = None  # teacher_test_acc - student_test_acc
    student_params: int | None = None
    student_flops: int | None = None
    student_latency_ms: float | None = None  # one-sample forward pass on the trial's device
    teacher_params: int | None = None
    wall_time_s: float = 0.0
    curve: list[dict[str, float]] = field(default_factory=list)  # one dict per epoch
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def objective(self, metric: str) -> float | None:
        """The value of an objective metric (``val_acc``, ``test_acc`` or a field name)."""
        return getattr(self, objective_field(metric))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
