"""Several processes opening the store and Optuna's storage on a FRESH PostgreSQL database at
once: one creates each schema (under a PostgreSQL advisory lock), the others wait and use it."""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback

import pytest
from conftest import fresh_pg_url

PG_URL = os.environ.get("KD_AUTOML_TEST_PG")

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="set KD_AUTOML_TEST_PG to a PostgreSQL URL (.ci/postgres.sh prints one)")

PROCESSES = 4


def _open_both(url: str, barrier, out) -> None:
    try:
        from kd_automl.orchestrate.optuna.study import open_storage
        from kd_automl.store import Store

        barrier.wait(30)
        store = Store(url)
        storage = open_storage(url)
        store.dispose()
        storage.engine.dispose()
        out.put(None)
    except BaseException:  # noqa: BLE001 (reported to the test)
        out.put(traceback.format_exc())


@pytest.mark.parametrize("attempt", range(3))
def test_processes_create_the_schemas_of_a_fresh_database_once(attempt):
    url = fresh_pg_url(PG_URL, f"kd_schema_race_{attempt}")
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_open_both, args=(url, barrier, out)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    errors = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert [e for e in errors if e] == []

    import sqlalchemy as sa

    engine = sa.create_engine(url)
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {"kd_trials", "kd_alembic_version", "trials", "studies", "alembic_version"} <= names
