"""Ctrl-C during a search: exit 130, every finished trial kept, the running one marked."""

import os
import signal
import subprocess
import sys

import optuna
import pytest
import yaml
from conftest import wait_for

from kd_automl.store import Store


def _completed(db: str) -> int:
    try:
        return sum(t.state == "complete" and t.role == "search" for t in Store(db).trials())
    except Exception:  # the database may not exist yet
        return 0


@pytest.fixture
def spec_file(tmp_path, tiny_spec_dict):
    tiny_spec_dict["name"] = "interrupted"
    tiny_spec_dict["train"]["epochs"] = 6
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec_dict))
    return path


def test_ctrl_c_keeps_finished_trials_and_marks_the_running_one(tmp_path, spec_file):
    ws = tmp_path / "ws"
    db = f"sqlite:///{ws / 'kd_automl.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "kd_automl", "optuna", str(spec_file),
                             "--trials", "200", "--workspace", str(ws)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "160"})
    try:
        wait_for(lambda: _completed(db) >= 2, what="two finished trials")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    trials = [t for t in Store(db).trials() if t.role == "search"]
    done = [t for t in trials if t.state == "complete"]
    assert len(done) >= 2
    assert all(t.state in ("complete", "failed") for t in trials)  # nothing left "running"
    marked = [t for t in trials if t.state == "failed"]
    assert all(t.error == "interrupted" for t in marked)
    study = optuna.load_study(study_name="interrupted", storage=db)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) == \
        len(done)
