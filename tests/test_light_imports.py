"""The store, the read commands, the report and the dashboard start without torch (the
first two without Optuna, NNI or Alembic either): each runs in a fresh interpreter that then
lists what it loaded."""

import json
import os
import subprocess
import sys

import pytest
from helpers.stores import fill

from kd_automl.extras import NNI_MISSING, nni_installed
from kd_automl.store import Store

HEAVY = {"alembic", "dash", "nni", "optuna", "torch"}
NEEDS_NNI = pytest.mark.skipif(not nni_installed(), reason='NNI is not installed (the "nni" extra)')


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
                                  pytest.param(("nni", "list"), marks=NEEDS_NNI)], ids=" ".join)
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


# NNI is the `nni` extra: nothing but its own commands imports it, and without it they say in
# one line how to install it (sys.modules["nni"] = None: `import nni` fails as it does where the
# extra is not installed)
NO_NNI = 'import sys\nsys.modules["nni"] = None\n'


def test_the_cli_app_and_check_never_import_nni(tmp_path):  # leaderboard: above
    code = f"import kd_automl.cli.app\n{_command('check', 'digits_kd')}"
    assert "nni" not in _loaded(code, cwd=tmp_path, KD_AUTOML_WORKSPACE=str(tmp_path / "ws"))


def test_without_nni_nni_list_exits_1_with_one_line_saying_how_to_install_it(tmp_path):
    code = f"{NO_NNI}from kd_automl.cli import main\nmain(['nni', 'list'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1",
                                                          "KD_AUTOML_WORKSPACE": str(tmp_path)})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == f"error: {NNI_MISSING}"  # one line, no traceback


@pytest.mark.parametrize("args", [("nni", "start", "digits_kd"), ("nni", "stop", "x"),
                                  ("reskd", "digits_reskd", "--backend", "nni")], ids=" ".join)
def test_without_nni_its_other_commands_say_the_same_first(args, tmp_path, monkeypatch, capsys):
    from kd_automl.cli import main

    monkeypatch.setitem(sys.modules, "nni", None)  # `import nni` fails, as without the extra
    monkeypatch.setenv("KD_AUTOML_WORKSPACE", str(tmp_path))
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    assert exit.value.code == 1
    assert capsys.readouterr().err.strip() == f"error: {NNI_MISSING}"
    assert not any(tmp_path.iterdir())  # said before any work


def test_without_nni_the_dashboards_nni_launch_is_off_and_says_how_to_install_it(monkeypatch):
    from kd_automl.dashboard.launch_form import form
    from kd_automl.errors import KDAutoMLError
    from kd_automl.orchestrate.launches import LaunchRequest
    from kd_automl.ready_specs import ready_spec
    from kd_automl.workspace import Workspace

    def find(c, id):
        if getattr(c, "id", None) == id:
            return c
        kids = getattr(c, "children", None)
        for k in kids if isinstance(kids, list) else [] if kids is None else [kids]:
            if (hit := find(k, id)) is not None:
                return hit

    monkeypatch.setitem(sys.modules, "nni", None)
    backends = find(form(Workspace.resolve(None)), "launch-backend").options
    assert backends[1] == {"label": f" NNI ({NNI_MISSING})", "value": "nni", "disabled": True}
    request = LaunchRequest(backend="nni", spec_text=ready_spec("digits_kd").read_text())
    with pytest.raises(KDAutoMLError) as err:
        request.check()
    assert str(err.value) == NNI_MISSING
