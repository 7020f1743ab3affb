"""Frozen records: what the store hands out. Nothing outside ``store/`` sees an ORM row.

Built in one place (:func:`experiment_record`, :func:`trial_record`) from the rows of
:mod:`kd_automl.store.models`, the way Optuna's RDB storage builds its ``FrozenTrial``. A
trial's objective, method, flat parameters and gain are defined here, once.

>>> best = max(store.trials(role="search"), key=lambda t: t.objective or 0)  # doctest: +SKIP
>>> best.method, best.flat_params, best.gain                                 # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from kd_automl.results import objective_field


@dataclass(frozen=True)
class ExperimentRecord:
    """One experiment: what ran (its spec, described), how it is judged, its baseline."""

    id: int
    name: str
    backend: str  # optuna | nni | script
    study_name: str | None
    spec: dict[str, Any]
    dataset: str
    teacher: str | None
    student: str
    method: str
    objective_metric: str
    direction: str
    created_at: datetime
    baseline_test_acc: float | None = None  # the student trained alone (latest baseline)

    @property
    def maximize(self) -> bool:
        return self.direction != "minimize"


@dataclass(frozen=True)
class EpochRecord:
    """One named value (val_acc, train_loss, train_kd, ...) of one epoch."""

    epoch: int
    name: str
    value: float | None


WEIGHTS_KEY = "weights"  # where a trial's kept student file is recorded in its ``extra``


@dataclass(frozen=True)
class WeightsRecord:
    """A trial's kept student weights: the file, its size in bytes and its SHA-256 (and the
    Optuna artifact id when registered in the workspace's Optuna artifact store)."""

    path: Path
    size: int
    sha256: str
    optuna_artifact_id: str | None = None


@dataclass(frozen=True)
class TrialRecord:
    """One stored trial with its experiment; ``epochs`` is None when not loaded with it."""

    id: int
    experiment_id: int
    backend_trial_id: str
    role: str  # search | baseline | confirm (kd-automl confirm; extra['confirm'] says what)
    state: str  # running | complete | pruned | failed
    params: dict[str, Any]
    recorded_method: str | None  # the method the trial recorded itself, if any
    student_val_acc: float | None
    student_test_acc: float | None
    teacher_test_acc: float | None
    gap: float | None
    student_params: int | None
    student_flops: int | None
    student_latency_ms: float | None
    teacher_params: int | None
    wall_time_s: float | None
    error: str | None
    extra: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None
    experiment: ExperimentRecord
    epochs: tuple[EpochRecord, ...] | None = None

    @property
    def objective(self) -> float | None:
        """The value the experiment optimises (its first objective)."""
        return getattr(self, objective_field(self.experiment.objective_metric))

    @cached_property
    def method(self) -> str:
        """The method the trial ran: a searched ``method`` choice, else the one it recorded,
        else the spec's."""
        chosen = self.params.get("method")
        if isinstance(chosen, dict) and "_name" in chosen:
            return str(chosen["_name"])
        return self.recorded_method or self.experiment.method

    @cached_property
    def flat_params(self) -> dict[str, Any]:
        """The sampled parameters with nested choices flattened (:func:`flatten_params`)."""
        return flatten_params(self.params)

    @property
    def gain(self) -> float | None:
        """Test accuracy minus the student trained alone (None without a baseline)."""
        base = self.experiment.baseline_test_acc
        if base is None or self.student_test_acc is None:
            return None
        return self.student_test_acc - base

    @property
    def weights(self) -> WeightsRecord | None:
        """The trial's kept student file (``artifacts:`` policy), or None."""
        w = self.extra.get(WEIGHTS_KEY)
        if not isinstance(w, dict) or "path" not in w:
            return None
        return WeightsRecord(Path(w["path"]), int(w.get("size", 0)), str(w.get("sha256", "")),
                             w.get("optuna_artifact_id"))

    @property
    def label(self) -> str:
        return f"{self.experiment.name} #{self.backend_trial_id}"


def flatten_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Flatten nested choices: ``{"method": {"_name": "kd", "alpha": .5}}`` ->
    ``{"method": "kd", "method.alpha": .5}``."""
    out: dict[str, Any] = {}
    for k, v in (params or {}).items():
        if isinstance(v, dict) and "_name" in v:
            out[k] = v["_name"]
            out.update(flatten_params({f"{k}.{kk}": vv for kk, vv in v.items() if kk != "_name"}))
        elif isinstance(v, int | float | str | bool) or v is None:
            out[k] = v
        else:
            out[k] = str(v)
    return out


SHORT_NAMES = {"temperature": "T"}


def format_params(params: dict[str, Any] | None) -> str:
    """One line of hyperparameters by leaf name: ``method.temperature=3.2104`` ->
    ``T=3.21``."""
    out = []
    for k, v in flatten_params(params).items():
        leaf = k.rsplit(".", 1)[-1]
        leaf = SHORT_NAMES.get(leaf, leaf)
        out.append(f"{leaf}={v:.3g}" if isinstance(v, float) else f"{leaf}={v}")
    return " ".join(out)


def experiment_record(row: Any, baseline_test_acc: float | None = None) -> ExperimentRecord:
    """The record of an ORM ``Experiment`` row."""
    return ExperimentRecord(
        id=row.id, name=row.name, backend=row.backend, study_name=row.study_name,
        spec=row.spec or {}, dataset=row.dataset, teacher=row.teacher, student=row.student,
        method=row.method, objective_metric=row.objective_metric, direction=row.direction,
        created_at=row.created_at, baseline_test_acc=baseline_test_acc)


def trial_record(row: Any, experiment: ExperimentRecord, with_epochs: bool) -> TrialRecord:
    """The record of an ORM ``Trial`` row (its epochs read only when ``with_epochs``)."""
    epochs = tuple(EpochRecord(m.epoch, m.name, m.value) for m in row.epochs) \
        if with_epochs else None
    return TrialRecord(
        id=row.id, experiment_id=row.experiment_id, backend_trial_id=row.backend_trial_id,
        role=row.role, state=row.state, params=row.params or {}, recorded_method=row.method,
        student_val_acc=row.student_val_acc, student_test_acc=row.student_test_acc,
        teacher_test_acc=row.teacher_test_acc, gap=row.gap, student_params=row.student_params,
        student_flops=row.student_flops, student_latency_ms=row.student_latency_ms,
        teacher_params=row.teacher_params, wall_time_s=row.wall_time_s, error=row.error,
        extra=row.extra or {}, started_at=row.started_at, finished_at=row.finished_at,
        experiment=experiment, epochs=epochs)
