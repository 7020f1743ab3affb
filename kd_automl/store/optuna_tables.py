"""SQL on Optuna's own tables (its RDB storage), for the work queue, heartbeats and the lock
shared by every machine of a study on PostgreSQL. Each answer is None (or no lock) where
the study's storage is not an RDB one."""

from __future__ import annotations

import zlib

import optuna
import sqlalchemy as sa
from optuna.trial import TrialState

from kd_automl.store.optuna_private import backend_of, rdb_models, storage_of, study_id

_COUNTS = sa.text(
    "SELECT t.state, COUNT(*), COUNT(a.trial_id) FROM trials t LEFT JOIN "
    "trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'fail_reason' "
    "WHERE t.study_id = :sid GROUP BY t.state")
_NEVER_BEATEN = sa.text(
    "SELECT t.trial_id FROM trials t WHERE t.study_id = :sid AND t.state = 'RUNNING' "
    "AND NOT EXISTS (SELECT 1 FROM trial_heartbeats h WHERE h.trial_id = t.trial_id)")


def storage_engine(study: optuna.Study) -> sa.Engine | None:
    """The SQLAlchemy engine behind ``study``'s RDB storage (None for other storages)."""
    return getattr(backend_of(storage_of(study)), "engine", None)


def state_counts(study: optuna.Study) -> list[tuple[str, int, int]] | None:
    """``(state, trials, trials failed on their own)`` per Optuna trial state: one query."""
    engine = storage_engine(study)
    if engine is None:
        return None
    with engine.connect() as conn:
        return [(getattr(state, "name", state), n, failed_alone) for state, n, failed_alone
                in conn.execute(_COUNTS, {"sid": study_id(study)})]


def completed_values_at(study: optuna.Study, step: int) -> list[float | None] | None:
    """Per COMPLETE trial of ``study``, its intermediate value at ``step`` (None where it
    reported none): one query, instead of every trial with all its attributes."""
    engine = storage_engine(study)
    if engine is None:
        return None
    models = rdb_models()
    t = models.TrialModel.__table__
    v = models.TrialIntermediateValueModel.__table__
    q = (sa.select(v.c.intermediate_value, v.c.intermediate_value_type)
         .select_from(t.outerjoin(v, sa.and_(v.c.trial_id == t.c.trial_id, v.c.step == step)))
         .where(t.c.study_id == study_id(study), t.c.state == TrialState.COMPLETE))
    decode = models.TrialIntermediateValueModel.stored_repr_to_intermediate_value
    with engine.connect() as conn:
        return [None if kind is None else decode(value, kind)
                for value, kind in conn.execute(q)]


def running_without_heartbeat(study: optuna.Study) -> list[int] | None:
    """Ids of the study's RUNNING trials that never recorded a heartbeat."""
    engine = storage_engine(study)
    if engine is None:
        return None
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(_NEVER_BEATEN, {"sid": study_id(study)})]


class AdvisoryLock:
    """``pg_advisory_lock`` on one connection, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, engine: sa.Engine, name: str):
        self.engine = engine
        self.key = zlib.crc32(f"kd-automl:{name}".encode()) - 2**31  # a signed 32-bit key
        self._conn: sa.Connection | None = None

    def acquire(self) -> None:
        self._conn = self.engine.connect()
        self._conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        self._conn.commit()

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._conn.commit()
        finally:
            self._conn.close()  # closing the session's connection frees the lock too
            self._conn = None


def shared_lock(study: optuna.Study) -> AdvisoryLock | None:
    """An advisory lock for ``study`` when its storage is PostgreSQL, else None: the work
    queue's file lock covers one machine, this one every machine sharing the database."""
    engine = storage_engine(study)
    if engine is None or engine.dialect.name != "postgresql":
        return None
    return AdvisoryLock(engine, study.study_name)
