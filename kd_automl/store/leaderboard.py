"""The leaderboard: completed search trials ranked by the experiment's objective."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kd_automl.store.models import Trial
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def baseline_accuracy(trials: list[Trial]) -> dict[int, float]:
    """Test accuracy of the student trained alone, per experiment id (latest baseline wins)."""
    out: dict[int, float] = {}
    for t in trials:
        if t.role == "baseline" and t.state == "complete" and t.student_test_acc is not None:
            out[t.experiment_id] = t.student_test_acc
    return out


def leaderboard(store: Store, experiments: list[str] | None = None, top: int | None = None
                ) -> list[Row]:
    """Completed search trials of ``experiments`` (all when None), best first."""
    exps = store.experiments(experiments)
    if not exps:
        return []
    trials = store.trials([e.id for e in exps])
    baselines = baseline_accuracy(trials)
    ranked = [t for t in trials if t.role == "search" and t.state == "complete"]

    def key(t: Trial):
        metric = t.experiment.objective_metric
        v = t.student_val_acc if metric == "val_acc" else t.student_test_acc
        v = float("-inf") if v is None else v
        sign = 1 if t.experiment.direction == "maximize" else -1
        tie = t.student_test_acc if t.student_test_acc is not None else float("-inf")
        return (-sign * v, -tie, t.id)

    ranked.sort(key=key)
    rows = []
    for i, t in enumerate(ranked[:top] if top else ranked, start=1):
        base = baselines.get(t.experiment_id)
        gain = (t.student_test_acc - base) if (base is not None and
                                               t.student_test_acc is not None) else None
        rows.append(Row(rank=i, experiment=t.experiment.name, backend=t.experiment.backend,
                        trial=t.backend_trial_id, method=t.method or t.experiment.method,
                        params=t.params, student_val_acc=t.student_val_acc,
                        student_test_acc=t.student_test_acc, teacher_test_acc=t.teacher_test_acc,
                        gap=t.gap, gain=gain, student_params=t.student_params))
    return rows
