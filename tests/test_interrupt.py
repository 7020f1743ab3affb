"""Ctrl-C during a search: exit 130, every finished trial kept, the running one marked, and
the printed command finishes the run: the interrupted trial first, then what was owed."""

import os
import re
import shlex
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
                             "--trials", "6", "--workspace", str(ws)],
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

    # the stop says exactly what finishes the run; that command retries the interrupted trial
    finish = re.search(r"to finish this run's 6 trials: `([^`]+)`", err)
    assert finish, err
    argv = shlex.split(finish.group(1))
    owed = int(argv[argv.index("--trials") + 1])
    assert argv[:3] == ["kd-automl", "optuna", str(spec_file)] and owed == 6 - len(done)
    assert f"`kd-automl optuna {spec_file} --workspace {ws} --trials 6` would run 6 more" in err
    again = subprocess.run([sys.executable, "-m", "kd_automl", *argv[1:]], capture_output=True,
                           text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert again.returncode == 0, again.stderr
    assert f"trial {marked[0].backend_trial_id} was interrupted; a new trial retries it" in \
        again.stderr if marked else True
    study = optuna.load_study(study_name="interrupted", storage=db)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 6  # what the first run was asked for
    if marked:
        retried = [t for t in complete if t.user_attrs.get("kd_continues") is not None]
        assert [t.params for t in retried] == \
            [study.trials[int(marked[0].backend_trial_id)].params]
