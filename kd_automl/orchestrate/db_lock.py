"""A lock shared by every machine of a study whose Optuna storage is on PostgreSQL.

The work queue's file lock covers one machine; workers on several machines that share a
PostgreSQL database take a session-level advisory lock instead, keyed by the study name.
"""

from __future__ import annotations

import zlib

import optuna
import sqlalchemy as sa


def storage_engine(study: optuna.Study) -> sa.Engine | None:
    """The SQLAlchemy engine behind ``study``'s RDB storage (None for other storages)."""
    storage = study._storage
    return getattr(getattr(storage, "_backend", storage), "engine", None)


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
    """An advisory lock for ``study`` when its storage is PostgreSQL, else None."""
    engine = storage_engine(study)
    if engine is None or engine.dialect.name != "postgresql":
        return None
    return AdvisoryLock(engine, study.study_name)
