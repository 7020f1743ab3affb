"""Stopping a launched NNI experiment midway (the dashboard's Stop, without a browser): the
call returns at once with the launch "stopping", the stop runs in a process of its own, and
once NNI's manager is gone the launch is "stopped" with no trial left RUNNING in the store."""

from __future__ import annotations

import copy
import time

import pytest
import yaml
from conftest import TINY

from kd_automl.orchestrate import launches
from kd_automl.orchestrate.launches import LaunchRequest
from kd_automl.store import Store
from kd_automl.workspace import Workspace

pytest.importorskip("nni", reason='NNI is not installed (the "nni" extra)')


def _search_trials(ws: Workspace, status: launches.LaunchStatus):
    if not status.experiment:
        return []
    try:
        store = Store(ws.db_url)
        exps = store.experiments([status.experiment])
        return store.trials([exps[0].id], role="search") if exps else []
    except Exception:  # the store is being created
        return []


def test_stopping_an_nni_launch_midway_leaves_no_trial_running(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_AUTOML_THREADS", "1")
    ws = Workspace.resolve(tmp_path / "ws")
    spec = copy.deepcopy(TINY)
    spec.update(name="nni-stop")
    spec["train"]["epochs"] = 40
    spec["teacher_train"]["epochs"] = 2
    rec = launches.start(ws, ws.db_url, LaunchRequest(
        "nni", yaml.safe_dump(spec), trials=20, concurrency=1))
    try:
        deadline = time.monotonic() + 300
        while True:  # one trial done and the next one training
            now = launches.status(ws, rec.id)
            states = [t.state for t in _search_trials(ws, now)]
            if "complete" in states and "running" in states:
                break
            assert now.state in ("starting", "running"), (now.state, now.log_file.read_text())
            assert time.monotonic() < deadline, f"no trial midway: {states}"
            time.sleep(0.5)

        t0 = time.monotonic()
        stopping = launches.stop(ws, rec.id)
        assert time.monotonic() - t0 < 10  # the stop runs in its own process
        assert stopping.state == "stopping" and stopping.serving
        stopped = launches.wait(ws, rec.id, timeout=180)
        assert stopped.state == "stopped", stopped.log_file.read_text()
        assert not stopped.serving
        trials = _search_trials(ws, stopped)
        assert "complete" in [t.state for t in trials]
        assert not [t for t in trials if t.state == "running"], [t.state for t in trials]
    finally:
        now = launches.status(ws, rec.id)
        if now.active or now.serving:
            launches.stop(ws, rec.id)
            launches.wait(ws, rec.id, timeout=180)
