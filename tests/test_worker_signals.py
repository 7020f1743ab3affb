"""Stopping a multi-worker search: SIGTERM, Ctrl-C to the group, a killed worker or main.

Each test runs the real command (``python -m kd_automl optuna ... --workers 2``): on the
CPU the main process is worker 0 and one worker process joins from the fork server.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import wait_for

from kd_automl.store import Store

RUNNING = optuna.trial.TrialState.RUNNING




def _rows(db):
    try:
        return [t for t in Store(db).trials() if t.role == "search"]
    except Exception:  # the database may not exist yet
        return []


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _descendants(pid: int) -> list[int]:
    kids = _children(pid)
    return kids + [d for k in kids for d in _descendants(k)]


def _workers(pid: int) -> list[int]:
    """The worker processes of a run (children of its fork server)."""
    def cmd(p):
        try:
            return Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            return b""
    servers = [p for p in _children(pid) if b"forkserver" in cmd(p)]
    return [w for s in servers for w in _children(s)]


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.fixture
def run(tmp_path, tiny_spec_dict):
    """Start ``kd-automl optuna --workers 2``; yields (process, db url)."""
    tiny_spec_dict["name"] = "stopped"
    ws = tmp_path / "ws"
    procs = []

    def start(trials: int, epochs: int = 8):
        tiny_spec_dict["train"]["epochs"] = epochs
        spec = tmp_path / "spec.yaml"
        spec.write_text(yaml.safe_dump(tiny_spec_dict))
        proc = subprocess.Popen(
            [sys.executable, "-m", "kd_automl", "optuna", str(spec), "--trials", str(trials),
             "--workers", "2", "--workspace", str(ws)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            env={**os.environ, "COLUMNS": "160", "KD_AUTOML_HEARTBEAT_S": "1",
                 "KD_AUTOML_THREADS": "1"})
        procs.append(proc)
        return proc, f"sqlite:///{ws / 'kd_automl.db'}"

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _both_running(proc, db):
    wait_for(lambda: len(_workers(proc.pid)) == 1 and
             sum(t.state == "running" for t in _rows(db)) == 2, what="two running trials")


def _nothing_running(db, study="stopped"):
    assert not [t for t in _rows(db) if t.state == "running"]
    study = optuna.load_study(study_name=study, storage=db)
    assert not [t for t in study.trials if t.state == RUNNING]
    return study


def test_sigkill_of_a_worker_its_trials_are_run_by_the_other(run):
    proc, db = run(24, epochs=60)  # long enough that the worker joins before main is done
    _both_running(proc, db)
    victim = _workers(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert f"(pid {victim}) was killed by SIGKILL" in err and "Traceback" not in err
    assert "[24/24] trial" in err and ": worker lost" in err  # progress read from the store
    study = _nothing_running(db)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 24
    lost = [t for t in _rows(db) if t.state == "failed"]
    assert [t.error for t in lost] == ["worker lost"]
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") is not None]
    assert len(retried) == 1 and retried[0].state == optuna.trial.TrialState.COMPLETE
    assert retried[0].params == study.trials[retried[0].system_attrs["failed_trial"]].params


@pytest.mark.parametrize("how", ["sigterm", "sigint-group"])
def test_a_stop_signal_stops_every_worker_and_marks_their_trials(run, how):
    proc, db = run(200, epochs=60)
    _both_running(proc, db)
    tree = _descendants(proc.pid)
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (143 if how == "sigterm" else 130), err
    assert ("stopped by SIGTERM" if how == "sigterm" else "stopped by Ctrl-C") in err
    assert "Traceback" not in err
    wait_for(lambda: not any(_alive(p) for p in tree), timeout=20, what="no live worker")
    _nothing_running(db)
    marked = [t for t in _rows(db) if t.state == "failed"]
    assert {t.error for t in marked} == {"interrupted"}  # main's and the worker's (or only
    assert f"{len(marked)} running trial(s) stored as interrupted" in err  # one, between two)


def test_workers_stop_when_the_main_process_dies(run):
    proc, db = run(200, epochs=60)
    _both_running(proc, db)
    workers = _workers(proc.pid)
    proc.kill()
    proc.wait()
    wait_for(lambda: not any(_alive(p) for p in workers), timeout=30, what="orphans to stop")
    left = [t.error or t.state for t in _rows(db) if t.state != "complete"]
    # the worker closed its trial; main's, killed with SIGKILL, may be left running (unless
    # either was between two trials)
    assert set(left) <= {"interrupted", "running"} and left.count("running") <= 1, left
    time.sleep(3.5)  # past the heartbeat's grace (3 beats of 1 s): only then is it stale
    resumed, db = run(0, epochs=60)  # resuming marks the killed process's trial as lost
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    _nothing_running(db)
    assert [t.error for t in _rows(db) if t.state == "failed"].count("worker lost") == \
        left.count("running")
