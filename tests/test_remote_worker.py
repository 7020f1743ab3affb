"""`kd-automl optuna worker` joins a running study on PostgreSQL and shares its trials."""

import os
import subprocess
import sys
import uuid

import optuna
import pytest
import yaml

from kd_automl.cli import main
from kd_automl.orchestrate.work_queue import finished_count
from kd_automl.store import Store

PG_URL = os.environ.get("KD_AUTOML_TEST_PG")

pytestmark = pytest.mark.skipif(
    not PG_URL and not os.environ.get("CI"),
    reason="set KD_AUTOML_TEST_PG to a PostgreSQL URL (bash .ci/postgres.sh prints one)")


def _cli(*args, workspace):
    env = {**os.environ, "KD_AUTOML_WORKSPACE": str(workspace), "KD_AUTOML_HEARTBEAT_S": "2"}
    return subprocess.Popen([sys.executable, "-m", "kd_automl", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_a_worker_on_another_machine_joins_and_shares_trials(tiny_spec_dict, tmp_path):
    assert PG_URL, "CI must run this test: .ci/run exports KD_AUTOML_TEST_PG"
    name = f"pg-join-{uuid.uuid4().hex[:8]}"
    tiny_spec_dict["name"] = name
    tiny_spec_dict["train"]["epochs"] = 2
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict))
    # two workspaces: two machines, each with its own teacher cache, one database
    main_run = _cli("optuna", str(spec), "--trials", "8", "--db", PG_URL, "--threads", "1",
                    workspace=tmp_path / "a")
    worker = _cli("optuna", "worker", str(spec), "--study", name, "--db", PG_URL,
                  "--threads", "1", "--wait", "120", workspace=tmp_path / "b")
    out_main, _ = main_run.communicate(timeout=600)
    out_worker, _ = worker.communicate(timeout=600)
    assert main_run.returncode == 0, out_main
    assert worker.returncode == 0, out_worker
    here = int(out_worker.split("worker done: ")[1].split(" trial")[0])
    assert here >= 1, out_worker
    study = optuna.load_study(study_name=name, storage=PG_URL)
    assert finished_count(study) == 8  # one queue: no trial run twice, none missing
    store = Store(PG_URL)
    rows = [t for t in store.trials() if t.experiment.name == name and t.role == "search"]
    assert sorted(int(t.backend_trial_id) for t in rows) == list(range(8))
    assert all(t.state == "complete" for t in rows)
    store.dispose()


def test_worker_without_a_study_is_one_error(tiny_spec_dict, tmp_path, capsys):
    assert PG_URL
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict))
    with pytest.raises(SystemExit) as info:
        main(["optuna", "worker", str(spec), "--study", "no-such-study", "--db", PG_URL])
    assert info.value.code == 1
    assert "no study 'no-such-study'" in capsys.readouterr().err
