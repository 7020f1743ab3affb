"""Opening a database only to read it: no migrations, no pragmas that write, no new files.

A SQLite file is opened ``mode=ro``. A WAL database on read-only storage whose ``-shm`` file
cannot be created is opened ``immutable=1`` instead (what the ``-wal`` file may still hold is
then not seen, and a warning says so).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import QueuePool

from kd_automl.errors import KDAutoMLError
from kd_automl.store.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    error_reason,
    head_revision,
    parse_url,
    sqlite_path,
    stored_revision,
)

log = logging.getLogger(__name__)
TABLES = ("kd_experiments", "kd_trials", "kd_epoch_metrics")


def _sqlite_uri(path: Path) -> str:
    """``mode=ro`` when it can read the file, else ``immutable=1`` (read-only WAL storage)."""
    base = f"file:{quote(str(path.resolve()))}"
    conn = sqlite3.connect(f"{base}?mode=ro", uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return f"{base}?mode=ro"
    except sqlite3.DatabaseError as err:
        if "unable to open" not in str(err):
            return f"{base}?mode=ro"  # the engine reports it
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size:
        log.warning("%s is read-only and its -shm file cannot be created: reading it as it "
                    "was last checkpointed (changes still in %s are not shown)", path, wal)
    return f"{base}?immutable=1"


def read_only_engine(url: str) -> Engine:
    """An engine that reads ``url`` and cannot write it (no kd_ table checks)."""
    u = parse_url(url)
    shown = u.render_as_string()
    path = sqlite_path(url)
    try:
        if u.get_backend_name() == "sqlite":
            if path is None or not path.is_file():
                raise KDAutoMLError(f"no database at {url}: run a search first (kd-automl demo "
                                    "or kd-automl optuna SPEC), or pass --db")
            uri = _sqlite_uri(path)

            def connect() -> sqlite3.Connection:
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False,
                                       timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
                conn.execute("PRAGMA query_only=ON")
                return conn

            # the file's own URL (errors name it) with each request's own pooled connection: a
            # SingletonThreadPool closes one thread's connection while another still uses it
            engine = create_engine(f"sqlite:///{path}", creator=connect, poolclass=QueuePool)
        else:
            args: dict[str, Any] = {}
            if u.get_backend_name() == "postgresql":
                args = {"connect_timeout": 10,
                        "options": "-c default_transaction_read_only=on"}
            engine = create_engine(u, pool_pre_ping=True, connect_args=args)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (NoSuchModuleError, ModuleNotFoundError) as err:
        raise KDAutoMLError(f"cannot open database {shown}: no driver ({err})") from None
    except SQLAlchemyError as err:
        raise KDAutoMLError(f"cannot reach database {shown}: {error_reason(err)}") from None
    return engine


def missing_tables(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [t for t in TABLES if not inspect(conn).has_table(t)]


def schema_is_current(engine: Engine) -> bool:
    """Whether the kd_ schema is at the newest migration (an older one needs a writer)."""
    return stored_revision(engine) == head_revision()


def check_readable(engine: Engine) -> None:
    """Read every page of a SQLite file once, so damage shows before a server starts."""
    if engine.url.get_backend_name() == "sqlite":
        with engine.connect() as conn:
            result = conn.execute(text("PRAGMA quick_check")).scalar()
        if result != "ok":
            raise KDAutoMLError(f"cannot read database {engine.url.database}: the file is "
                                f"damaged ({result}); restore it from a backup")


def open_read_only_engine(url: str) -> Engine:
    """:func:`read_only_engine`, checked to hold the kd_ tables."""
    engine = read_only_engine(url)
    missing = missing_tables(engine)
    if missing:
        engine.dispose()
        shown = parse_url(url).render_as_string()
        raise KDAutoMLError(f"database {shown} has no kd-automl tables ({', '.join(missing)} "
                            "missing): is it the right --db? A search (kd-automl optuna/demo) "
                            "creates them; viewers never do")
    return engine
