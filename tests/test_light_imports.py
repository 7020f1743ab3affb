"""The store, the read commands, the report and the dashboard start without torch (the
first two without Optuna, NNI or Alembic either): each runs in a fresh interpreter that then
lists what it loaded."""

import json
import os
import subprocess
import sys

import pytest
from helpers.stores import fill

from kd_automl.store import Store

HEAVY = {"alembic", "dash", "nni", "optuna", "torch"}


def _loaded(code: str, cwd=None, **env: str) -> set[str]:
    """The modules of ``HEAVY`` (top-level names) loaded after ``code`` runs."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r})))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def _command(*args: str) -> str:
    return (f"from kd_automl.cli import main\ntry:\n    main({list(args)!r})\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n")


def test_the_store_loads_neither_torch_nor_optuna():
    assert _loaded("import kd_automl.store; from kd_automl.store import Store") == set()


@pytest.mark.parametrize("module", ["kd_automl.analysis.report", "kd_automl.dashboard.app"])
def test_the_report_and_the_dashboard_load_no_torch(module):
    assert "torch" not in _loaded(f"import {module}")


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'kd.db'}"
    store = Store(url)
    fill(store, 4)
    store.dispose()
    return url


@pytest.mark.parametrize("args", [("leaderboard", "--top", "3"), ("launches", "list"),
                                  ("nni", "list")], ids=" ".join)
def test_read_commands_load_neither_torch_nor_optuna(args, db, tmp_path):
    extra = ("--db", db) if args[0] == "leaderboard" else ()
    assert _loaded(_command(*args, *extra), cwd=tmp_path,
                   KD_AUTOML_WORKSPACE=str(tmp_path / "ws")) == set()


def test_the_report_command_loads_no_torch(db, tmp_path):
    code = _command("report", "--db", db, "--out", str(tmp_path / "report.html"))
    assert "torch" not in _loaded(code, cwd=tmp_path, KD_AUTOML_WORKSPACE=str(tmp_path / "ws"))
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_the_probe_sees_torch_when_it_is_loaded():  # the tests above are not vacuous
    assert "torch" in _loaded("import kd_automl.engine; kd_automl.engine.run_trial")


def test_the_head_read_without_alembic_is_alembics_head():
    from alembic.script import ScriptDirectory

    from kd_automl.store.db import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
