"""SQLAlchemy models. Tables are prefixed ``kd_`` so Optuna's tables can share the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Experiment(Base):
    __tablename__ = "kd_experiments"
    __table_args__ = (UniqueConstraint("name", "backend", name="uq_kd_experiments_name_backend"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    backend: Mapped[str] = mapped_column(String(20))  # optuna | nni | script
    study_name: Mapped[str | None] = mapped_column(String(200))  # Optuna study / NNI experiment id
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    dataset: Mapped[str] = mapped_column(String(100))
    teacher: Mapped[str | None] = mapped_column(String(200))
    student: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(100))
    objective_metric: Mapped[str] = mapped_column(String(50))
    direction: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    trials: Mapped[list[Trial]] = relationship(back_populates="experiment",
                                               cascade="all, delete-orphan")


class Trial(Base):
    __tablename__ = "kd_trials"
    __table_args__ = (
        UniqueConstraint("experiment_id", "backend_trial_id", name="uq_kd_trials_backend_id"),
        Index("ix_kd_trials_experiment_state", "experiment_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("kd_experiments.id", ondelete="CASCADE"))
    backend_trial_id: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), default="search")  # search | baseline
    state: Mapped[str] = mapped_column(String(20), default="running")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    method: Mapped[str | None] = mapped_column(String(100))
    student_val_acc: Mapped[float | None] = mapped_column(Float)
    student_test_acc: Mapped[float | None] = mapped_column(Float)
    teacher_test_acc: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    student_params: Mapped[int | None] = mapped_column(Integer)
    student_flops: Mapped[int | None] = mapped_column(Integer)
    student_latency_ms: Mapped[float | None] = mapped_column(Float)
    teacher_params: Mapped[int | None] = mapped_column(Integer)
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()

    experiment: Mapped[Experiment] = relationship(back_populates="trials")
    epochs: Mapped[list[EpochMetric]] = relationship(back_populates="trial",
                                                     cascade="all, delete-orphan")


class EpochMetric(Base):
    """One named value (val_acc, train_loss, train_kd, ...) of one epoch of one trial."""

    __tablename__ = "kd_epoch_metrics"
    __table_args__ = (Index("ix_kd_epoch_metrics_trial", "trial_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("kd_trials.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)

    trial: Mapped[Trial] = relationship(back_populates="epochs")
