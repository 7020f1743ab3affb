"""Opening a database: clear errors for unreachable URLs or damaged files, SQLite tuned for
many writers."""

from __future__ import annotations

import ast
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from kd_automl.errors import KDAutoMLError

if TYPE_CHECKING:  # Alembic (with Mako and Pygments) loads only when a schema must change
    from alembic.config import Config

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# The PostgreSQL advisory lock key (a signed 64-bit number) held while a schema is created:
# the store's migrations and Optuna's tables, in every process and on every machine.
SCHEMA_LOCK_KEY = 0x6B64_6175_746F_6D6C  # "kdautoml"
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "kd_alembic_version"  # as migrations/env.py names it
_DAMAGED = ("malformed", "file is not a database", "database corruption")


@event.listens_for(Engine, "handle_error")
def _damaged_file(ctx) -> None:
    """Any engine (the store's, Optuna's): a damaged SQLite file is one clear error."""
    err = ctx.original_exception
    if not isinstance(err, sqlite3.DatabaseError) or not any(
            d in str(err) for d in _DAMAGED):
        return
    name = ctx.engine.url.database if ctx.engine is not None else "(SQLite)"
    raise KDAutoMLError(f"cannot read database {name}: the file is damaged "
                        f"({str(err).splitlines()[0]}); restore it from a backup, or move it "
                        "away and a search starts a new one") from None


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def parse_url(url: str) -> URL:
    """``url`` as a SQLAlchemy URL, or one clear error."""
    try:
        return make_url(url)
    except ArgumentError:
        raise KDAutoMLError(f"--db {url!r} is not a database URL "
                            "(e.g. sqlite:///runs/kd_automl.db, postgresql://user@host/db)") \
            from None


def error_reason(err: SQLAlchemyError) -> str:
    """The first line of the driver's own message, for a user-facing error."""
    return str(getattr(err, "orig", None) or err).strip().splitlines()[0]


def sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def create_db_engine(url: str) -> Engine:
    """An engine for ``url`` that has been shown to connect, with the kd_ schema up to date."""
    u = parse_url(url)
    path = sqlite_path(url)
    if path is not None and not path.parent.is_dir():
        raise KDAutoMLError(f"cannot open database {url}: folder {path.parent} does not exist")
    try:
        if u.get_backend_name() == "sqlite":
            engine = create_engine(u, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(u, pool_pre_ping=True, connect_args=_connect_timeout(u))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (NoSuchModuleError, ModuleNotFoundError) as err:
        raise KDAutoMLError(f"cannot open database {u.render_as_string()}: no driver for "
                            f"{u.drivername!r} ({err})") from None
    except SQLAlchemyError as err:
        raise KDAutoMLError(f"cannot reach database {u.render_as_string()}: "
                            f"{error_reason(err)}") from None
    _migrate(engine, path)
    return engine


def _connect_timeout(u) -> dict:
    return {"connect_timeout": 10} if u.get_backend_name() == "postgresql" else {}


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@cache
def head_revision() -> str:
    """The newest migration's revision, read from ``migrations/versions/`` without Alembic:
    the one revision that no other names as its ``down_revision``."""
    links = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        values = {t.id: n.value.value for n in ast.parse(path.read_text()).body
                  if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
                  for t in n.targets if isinstance(t, ast.Name)}
        links[values["revision"]] = values.get("down_revision")
    heads = set(links) - set(links.values())
    if len(heads) != 1:
        raise AssertionError(f"the store's migrations have heads {sorted(heads)}, not one")
    return heads.pop()


def stored_revision(engine: Engine) -> str | None:
    """The kd_ schema's revision in the database, ``None`` when it has none."""
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except SQLAlchemyError:
        return None


@contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Held while a schema is created in the database at ``url`` (ours or Optuna's), so two
    processes starting at once on a fresh database do not both create its tables: a lock
    file beside a SQLite file, a PostgreSQL advisory lock (:data:`SCHEMA_LOCK_KEY`) held on a
    connection of its own."""
    try:
        u = make_url(url)
    except ArgumentError:
        u = None
    if u is not None and u.get_backend_name() == "postgresql":
        with _pg_schema_lock(u):
            yield
        return
    db = u.database if u is not None and u.get_backend_name() == "sqlite" else None
    if not db or db == ":memory:" or db.startswith("file:"):
        yield
        return
    with FileLock(db + ".migrate.lock", timeout=120):
        yield


@contextmanager
def _pg_schema_lock(u: URL) -> Iterator[None]:
    engine = create_engine(u, poolclass=NullPool, connect_args=_connect_timeout(u))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEMA_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


def _migrate(engine: Engine, path: Path | None) -> None:
    if stored_revision(engine) == head_revision():
        return  # current: no lock, no Alembic
    from alembic import command

    cfg = alembic_config()
    lock = FileLock(str(path) + ".migrate.lock") if path is not None else None
    try:
        if lock:
            lock.acquire(timeout=120)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # held until this transaction ends
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as err:
        raise KDAutoMLError(f"cannot prepare database {engine.url.render_as_string()}: "
                            f"{error_reason(err)}") from None
    finally:
        if lock:
            lock.release()
