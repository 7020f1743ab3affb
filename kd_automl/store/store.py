"""The result store: the only module that talks SQL."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from kd_automl.errors import KDAutoMLError
from kd_automl.results import TrialResult
from kd_automl.spec import ExperimentSpec
from kd_automl.store.db import create_db_engine, error_reason, sqlite_path
from kd_automl.store.models import EpochMetric, Experiment, Trial, utcnow
from kd_automl.store.readonly import (
    missing_tables,
    open_read_only_engine,
    read_only_engine,
    schema_is_current,
)
from kd_automl.store.records import (
    ExperimentRecord,
    TrialRecord,
    experiment_record,
    trial_record,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def _describe_model(section: dict[str, Any] | None) -> str | None:
    if not section:
        return None
    size = ",".join(f"{k}={v}" for k, v in section.items() if k != "arch")
    return f"{section['arch']}({size})" if size else section["arch"]


def _baselines(s: Session, experiment_ids: list[int]) -> dict[int, float]:
    """Test accuracy of the student trained alone, per experiment id (latest baseline wins)."""
    if not experiment_ids:
        return {}
    q = select(Trial.experiment_id, Trial.student_test_acc).where(
        Trial.experiment_id.in_(experiment_ids), Trial.role == "baseline",
        Trial.state == "complete", Trial.student_test_acc.is_not(None)).order_by(Trial.id)
    return {exp_id: acc for exp_id, acc in s.execute(q)}


def _upsert(dialect: Dialect):
    """The ``insert`` with ``ON CONFLICT DO UPDATE ... RETURNING`` of ``dialect``, or None."""
    if not dialect.insert_returning or dialect.name not in ("postgresql", "sqlite"):
        return None  # (SQLite before 3.35 has no RETURNING)
    import importlib  # only the dialect in use: the PostgreSQL one costs a reader 0.2 s

    return importlib.import_module(f"sqlalchemy.dialects.{dialect.name}").insert


def _finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


class Store:
    """Record experiments, trials and per-epoch metrics; read them back.

    >>> store = Store("sqlite:///runs/kd_automl.db")      # doctest: +SKIP
    >>> exp_id = store.experiment(spec, backend="optuna")   # doctest: +SKIP
    """

    def __init__(self, url: str):
        self.url = url
        self.engine = create_db_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def display_url(self) -> str:
        """The database URL with any password masked, for showing."""
        return make_url(self.url).render_as_string(hide_password=True)

    def session(self) -> Session:
        return self._sessions()

    def _write(self, fn: Callable[[Session], T], attempts: int = 6) -> T:
        """Run ``fn`` in a transaction, retrying while the database is locked."""
        for attempt in range(attempts):
            try:
                with self._sessions.begin() as s:
                    return fn(s)
            except OperationalError as err:
                if attempt == attempts - 1:
                    raise KDAutoMLError(f"cannot write to database {self.url}: "
                                        f"{error_reason(err)}") from None
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    # -- writing -------------------------------------------------------------------------

    def experiment(self, spec: ExperimentSpec, backend: str, name: str | None = None,
                   study_name: str | None = None) -> int:
        """Id of the experiment ``(name, backend)``, created from ``spec`` if new."""
        name = name or spec.name
        data = spec.to_dict()

        def fn(s: Session) -> int:
            row = s.scalar(select(Experiment).where(Experiment.name == name,
                                                    Experiment.backend == backend))
            if row is None:
                row = Experiment(name=name, backend=backend, study_name=study_name or name,
                                 spec=data, dataset=spec.dataset.name,
                                 teacher=_describe_model(data.get("teacher")),
                                 student=_describe_model(data["student"]),
                                 method=spec.method.name,
                                 objective_metric=spec.objective.metric,
                                 direction=spec.objective.direction)
                s.add(row)
                s.flush()
            return row.id

        return self._write(fn)

    def start_trial(self, experiment_id: int, backend_trial_id: str | int,
                    params: dict[str, Any], role: str = "search", method: str | None = None) -> int:
        """Record a running trial (or reset a re-run one); returns its store id.

        One statement on PostgreSQL and SQLite (an upsert on the row's unique key)."""
        key = {"experiment_id": experiment_id, "backend_trial_id": str(backend_trial_id)}
        upsert = _upsert(self.engine.dialect)

        def fn(s: Session) -> int:
            reset = {"role": role, "params": params, "state": "running", "method": method,
                     "started_at": utcnow(), "extra": {}}
            if upsert is not None:
                stmt = upsert(Trial).values(**key, **reset)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[Trial.experiment_id, Trial.backend_trial_id], set_=reset)
                return s.scalar(stmt.returning(Trial.id))
            row = s.scalar(select(Trial).where(Trial.experiment_id == experiment_id,
                                               Trial.backend_trial_id == key["backend_trial_id"]))
            if row is None:
                row = Trial(**key)
                s.add(row)
            for col, value in reset.items():
                setattr(row, col, value)
            s.flush()
            return row.id

        return self._write(fn)

    def finish_trial(self, trial_id: int, result: TrialResult) -> None:
        """Store the result of a trial and its per-epoch curve."""

        values = {col: _finite_or_none(getattr(result, col)) for col in
                  ("student_val_acc", "student_test_acc", "teacher_test_acc", "gap",
                   "student_latency_ms")}
        values.update(state=result.status, student_params=result.student_params,
                      student_flops=result.student_flops, teacher_params=result.teacher_params,
                      wall_time_s=result.wall_time_s, error=result.error,
                      extra=dict(result.extra))
        curve = [{"trial_id": trial_id, "epoch": int(m.get("epoch", i + 1)), "name": k,
                  "value": _finite_or_none(v)}
                 for i, m in enumerate(result.curve) for k, v in m.items() if k != "epoch"]

        def fn(s: Session) -> None:  # one UPDATE: no SELECT of the row first
            done = s.execute(update(Trial).where(Trial.id == trial_id)
                             .values(**values, finished_at=utcnow())
                             .execution_options(synchronize_session=False))
            if done.rowcount == 0:
                raise KDAutoMLError(f"no trial with store id {trial_id} in {self.url}")
            s.query(EpochMetric).filter(EpochMetric.trial_id == trial_id).delete()
            if curve:  # one executemany (the ORM inserts row by row on SQLite)
                s.execute(insert(EpochMetric), curve)

        self._write(fn)

    def drop_extra(self, trial_id: int, key: str) -> None:
        """Remove ``key`` from the trial's ``extra`` (a kept file that was removed)."""
        def fn(s: Session) -> None:
            row = s.get(Trial, trial_id)
            if row is not None and key in (row.extra or {}):
                row.extra = {k: v for k, v in row.extra.items() if k != key}

        self._write(fn)

    def mark_failed(self, trial_id: int, reason: str, extra: dict[str, Any] | None = None
                    ) -> None:
        """Store the trial as failed with ``reason`` (and ``extra`` added to its own)."""
        def fn(s: Session) -> None:
            row = s.get(Trial, trial_id)
            row.state, row.error, row.finished_at = "failed", reason, utcnow()
            if extra:
                row.extra = {**(row.extra or {}), **extra}

        self._write(fn)

    # -- reading -------------------------------------------------------------------------

    def experiments(self, names: Iterable[str] | None = None, *, require: bool = False
                    ) -> list[ExperimentRecord]:
        """Experiments (all, or those named), oldest first; ``require``: a name that is not
        in the store is an error that lists the known ones."""
        names = list(names or [])
        with self.session() as s:
            q = select(Experiment).order_by(Experiment.created_at)
            if names:
                q = q.where(Experiment.name.in_(names))
            rows = list(s.scalars(q))
            base = _baselines(s, [e.id for e in rows])
            found = [experiment_record(e, base.get(e.id)) for e in rows]
        missing = [n for n in names if n not in {e.name for e in found}]
        if require and missing:
            known = sorted({e.name for e in self.experiments()})
            raise KDAutoMLError(f"no experiment named {', '.join(map(repr, missing))} in "
                                f"{self.url}; known: {', '.join(known) or 'none'}")
        return found

    def trials(self, experiment_ids: Iterable[int] | None = None, *, with_epochs: bool = False,
               states: Iterable[str] | None = None, role: str | None = None
               ) -> list[TrialRecord]:
        """Trials (of ``experiment_ids``, in ``states``, of ``role``), ordered by id; their
        per-epoch metrics only ``with_epochs``."""
        q = select(Trial).order_by(Trial.id)
        if experiment_ids is not None:
            q = q.where(Trial.experiment_id.in_(list(experiment_ids)))
        if states:
            q = q.where(Trial.state.in_(list(states)))
        if role:
            q = q.where(Trial.role == role)
        return self._trial_records(q, with_epochs)

    def trials_by_id(self, ids: Iterable[int], *, with_epochs: bool = False
                     ) -> list[TrialRecord]:
        """The trials with store ids ``ids`` (with their experiment), ordered by id."""
        ids = list(ids)
        if not ids:
            return []
        return self._trial_records(select(Trial).where(Trial.id.in_(ids)).order_by(Trial.id),
                                   with_epochs)

    def _trial_records(self, q, with_epochs: bool) -> list[TrialRecord]:
        with self.session() as s:
            q = q.options(selectinload(Trial.experiment))
            if with_epochs:
                q = q.options(selectinload(Trial.epochs))
            rows = list(s.scalars(q))
            exp_rows = {t.experiment_id: t.experiment for t in rows}
            base = _baselines(s, list(exp_rows))
            exps = {i: experiment_record(e, base.get(i)) for i, e in exp_rows.items()}
            return [trial_record(t, exps[t.experiment_id], with_epochs) for t in rows]

    def trial_counts(self, role: str | None = "search") -> dict[int, dict[str, int]]:
        """Number of trials per experiment id and state (of ``role``; None: every role)."""
        with self.session() as s:
            q = select(Trial.experiment_id, Trial.state, func.count())
            if role:
                q = q.where(Trial.role == role)
            rows = s.execute(q.group_by(Trial.experiment_id, Trial.state))
            out: dict[int, dict[str, int]] = {}
            for exp_id, state, n in rows:
                out.setdefault(exp_id, {})[state] = n
            return out

    def version(self) -> tuple:
        """A cheap marker that changes whenever an experiment or trial is added or updated."""
        with self.session() as s:
            trials = s.execute(select(func.count(Trial.id), func.max(Trial.started_at),
                                      func.max(Trial.finished_at))).one()
            exps = s.scalar(select(func.count(Experiment.id)))
            return (exps, *(str(v) for v in trials))

    @classmethod
    def open_read_only(cls, url: str) -> Store:
        """A store that can only read ``url``: no migrations, SQLite opened ``mode=ro`` with
        ``query_only``, PostgreSQL sessions read-only. For viewers such as the dashboard."""
        store = cls.__new__(cls)
        store.url = url
        store.engine = open_read_only_engine(url)
        store._sessions = sessionmaker(store.engine, expire_on_commit=False)
        return store

    @classmethod
    def for_reading(cls, url: str) -> Store:
        """A store to read results from, opened read-only: reading needs no write access.

        Only a database that does not exist yet, lacks the kd_ tables or has an older schema
        is opened as :class:`Store` (created or migrated, which needs write access)."""
        path = sqlite_path(url)
        if path is not None and not path.exists():
            return cls(url)
        engine = read_only_engine(url)
        if missing_tables(engine) or not schema_is_current(engine):
            engine.dispose()
            try:
                return cls(url)
            except (KDAutoMLError, OSError) as err:
                raise KDAutoMLError(f"database {url} has no kd-automl tables or an older "
                                    f"schema, and upgrading it needs write access ({err}); "
                                    "run any kd-automl search on it once where it can be "
                                    "written") from None
        store = cls.__new__(cls)
        store.url, store.engine = url, engine
        store._sessions = sessionmaker(engine, expire_on_commit=False)
        return store

    def dispose(self) -> None:
        self.engine.dispose()
