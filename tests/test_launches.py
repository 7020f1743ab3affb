"""Launching from the dashboard, without a browser: spec text checked with `kd-automl check`'s
messages placed on their field's line, launch requests checked, and every launch route
refusing without --allow-launch or without the token (real HTTP on a started server)."""

from __future__ import annotations

import copy
import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests
import yaml
from conftest import TINY
from helpers.stores import fill

from kd_automl.dashboard import DashboardServer
from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.launches import LaunchRequest, start
from kd_automl.spec import parse_spec
from kd_automl.spec_check import check_text, search_ranges
from kd_automl.store import Store
from kd_automl.workspace import Workspace

CALLBACK = "_dash-update-component"


def _text(**changes) -> str:
    d = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        d[section][key] = value
    return yaml.safe_dump(d, sort_keys=False)


def _check_message(text: str) -> str:
    with pytest.raises(KDAutoMLError) as info:
        parse_spec(yaml.safe_load(text), "pasted spec")  # what `kd-automl check` prints
    return str(info.value)


@pytest.mark.parametrize("changes, field, line_text", [
    ({"train__epochs": 0}, "train.epochs", "  epochs: 0"),
    ({"method__temperature": -1}, "method.temperature", "  temperature: -1"),
    ({"student__arch": "nope"}, "student.arch", "  arch: nope"),
    ({"search__method.alpha": {"_type": "uniform", "_value": [0.0, 2.0]}},
     "search.method.alpha", "  method.alpha:"),
])
def test_each_check_message_sits_on_the_line_of_its_field(changes, field, line_text):
    text = _text(**changes)
    checked = check_text(text)
    assert checked.spec is None and len(checked.problems) == 1
    p = checked.problems[0]
    assert p.field == field and text.splitlines()[p.line] == line_text
    message = _check_message(text)
    assert p.message == message or p.message in message  # pydantic's: header + this field
    assert field.split(".")[-1] in p.message


def test_bad_yaml_a_valid_spec_and_its_searched_ranges():
    checked = check_text("name: x\nstudent: [mlp\n")
    assert checked.spec is None and "not valid YAML" in checked.problems[0].message
    assert checked.problems[0].line is not None
    ok = check_text(_text())
    assert ok.ok and ok.spec.name == "tiny-kd"
    assert search_ranges(ok.search) == [("method.temperature", "loguniform", "1, 20"),
                                        ("method.alpha", "uniform", "0.0, 1.0")]


@pytest.mark.parametrize("kw, message", [
    ({"backend": "ray"}, "unknown backend"),
    ({"trials": 0}, "trials must be a whole number"),
    ({"backend": "nni", "tuner": "Magic"}, "unknown tuner"),
    ({"backend": "nni", "assessor": "x"}, "unknown assessor"),
    ({"workers": None}, "workers must be"),
    ({"gpus": "a,b"}, "--gpus"),
    ({"max_duration": "soon"}, "max duration"),
    ({"spec_text": "name: x\n"}, "student: Field required"),
])
def test_a_bad_request_is_one_clear_error_and_starts_nothing(tmp_path, kw, message):
    ws = Workspace.resolve(tmp_path / "ws")
    request = LaunchRequest(**{"backend": "optuna", "spec_text": _text(), **kw})
    with pytest.raises(KDAutoMLError, match=re.escape(message)):
        start(ws, ws.db_url, request)
    assert not (ws.root / "launches").exists()


# -- refusals over HTTP --------------------------------------------------------------------

def _launch_body(text: str) -> dict:
    """The callback request the Launch button sends."""
    state = [("spec-text", "value", text), ("spec-source", "data", None),
             ("launch-backend", "value", "optuna"), ("launch-trials", "value", 1),
             ("launch-gpus", "value", None), ("launch-workers", "value", 1),
             ("launch-fuse", "value", None), ("launch-study", "value", None),
             ("launch-tuner", "value", "TPE"), ("launch-assessor", "value", "none"),
             ("launch-concurrency", "value", 1), ("launch-port", "value", None),
             ("launch-duration", "value", None)]
    return {"output": _HASHES["launch-message"],
            "outputs": [{"id": "launch-message", "property": "children"},
                        {"id": "runs-version", "property": "data"}],
            "inputs": [{"id": "launch-button", "property": "n_clicks", "value": 1}],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
            "changedPropIds": ["launch-button.n_clicks"]}


_HASHES: dict[str, str] = {}  # a callback's output key (Dash hashes one that shares one)


def _stop_body() -> dict:
    return {"output": _HASHES["run-message"],
            "outputs": [{"id": "run-message", "property": "children"},
                        {"id": "runs-version", "property": "data"}],
            "inputs": [[{"id": {"launch": "x", "type": "run-stop"}, "property": "n_clicks",
                         "value": 1}]],
            "changedPropIds": ['{"launch":"x","type":"run-stop"}.n_clicks']}


@pytest.fixture
def db(tmp_path) -> str:
    """A small store, and the launch callbacks' output keys (Dash's hash of a callback that
    shares an output) learnt from a launch-enabled server, so refused requests are exact."""
    url = f"sqlite:///{tmp_path / 'kd.db'}"
    store = Store(url)
    fill(store, 2)
    store.dispose()
    if not _HASHES:
        srv = DashboardServer(url, port=0, token="t", allow_launch=True,
                              workspace=tmp_path / "learn").start()
        try:
            deps = requests.get(srv.url + "_dash-dependencies", timeout=30,
                                headers={"Authorization": "Bearer t"}).json()
        finally:
            srv.shutdown()
        for d in deps:
            for first in ("launch-message", "run-message"):
                if d["output"].startswith(f"..{first}."):
                    _HASHES[first] = d["output"]
    return url


ROUTES = ("launches/x/report", "launches/x/log")


def test_without_allow_launch_every_launch_route_refuses(db, tmp_path):
    ws = tmp_path / "ws"
    srv = DashboardServer(db, port=0, token="tok", workspace=ws).start()
    try:
        s = requests.Session()
        assert s.get(srv.login_url, timeout=30).status_code == 200  # the token: still refused
        assert "launch-button" not in s.get(srv.url + "_dash-layout", timeout=30).text
        for body in (_launch_body(_text()), _stop_body()):
            r = s.post(srv.url + CALLBACK, json=body, timeout=30)
            assert r.status_code == 400 and "no such callback" in r.text
        for route in ROUTES:
            assert s.get(srv.url + route, timeout=30).status_code == 404
    finally:
        srv.shutdown()
    assert not (ws / "launches").exists()


def test_without_the_token_every_launch_route_refuses(db, tmp_path):
    ws = tmp_path / "ws"
    srv = DashboardServer(db, port=0, token="s3cret", allow_launch=True, workspace=ws).start()
    try:
        ok = requests.Session()
        ok.get(srv.login_url, timeout=30)
        assert "launch-button" in ok.get(srv.url + "_dash-layout", timeout=30).text
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "kd=s3cret"}):
            for body in (_launch_body(_text()), _stop_body()):
                r = requests.post(srv.url + CALLBACK, json=body, headers=headers, timeout=30)
                assert r.status_code == 401, (headers, r.text)
            for route in (*ROUTES, "_dash-layout", ""):
                assert requests.get(srv.url + route, headers=headers,
                                    timeout=30).status_code == 401
        assert requests.get(srv.url + "?token=wrong", timeout=30).status_code == 403
        assert not (ws / "launches").exists() or not any((ws / "launches").iterdir())
        # with the token the same routes answer: a bad spec is refused with its message
        r = ok.post(srv.url + CALLBACK, json=_launch_body(_text(train__epochs=0)), timeout=60)
        assert r.status_code == 200 and "not launched" in r.text and "train.epochs" in r.text
        r = ok.post(srv.url + CALLBACK, json=_stop_body(), timeout=60)
        assert r.status_code == 200 and "no launch" in r.text
        assert ok.get(srv.url + ROUTES[0], timeout=30).status_code == 404
    finally:
        srv.shutdown()
    assert not (ws / "launches").exists() or not any((ws / "launches").iterdir())


def test_allow_launch_prints_a_random_token_once_and_binds_127_0_0_1(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "300"}
    env.pop("KD_AUTOML_DASHBOARD_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "kd_automl", "dashboard", "--allow-launch",
                             "--workspace", str(tmp_path / "ws"), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line, deadline = "", time.monotonic() + 90
        while "dashboard on" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "dashboard exited"
            assert time.monotonic() < deadline
        url = re.search(r"(http://\S+)", line).group(1)
        token = re.fullmatch(rf"http://127\.0\.0\.1:{port}/\?token=([\w-]+)", url).group(1)
        assert len(token) >= 32
        assert requests.get(url.split("?")[0], timeout=10).status_code == 401
        assert requests.get(url, timeout=10).status_code == 200
        assert (tmp_path / "ws" / "kd_automl.db").exists()  # made, so launches can write it
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert token not in out  # printed once


def test_a_launch_outlives_its_starter_and_is_found_and_stopped_from_the_cli(
        tmp_path, monkeypatch):
    """A dashboard restarted (here: the process that launched exits) finds the launch in the
    workspace, watches it and stops it, although the launch is no child of it; so does the
    terminal (`kd-automl launches list / stop`)."""
    from kd_automl.orchestrate import launches

    monkeypatch.setenv("KD_AUTOML_THREADS", "1")
    ws = Workspace.resolve(tmp_path / "ws")
    # far more trials than run before the stop, so it cannot end first on a quiet machine
    text = _text(train__epochs=40, teacher_train__epochs=2)
    starter = subprocess.run(
        [sys.executable, "-c", "import sys; from kd_automl.orchestrate.launches import "
         "LaunchRequest, start; from kd_automl.workspace import Workspace; "
         "ws = Workspace.resolve(sys.argv[1]); "
         "print(start(ws, ws.db_url, LaunchRequest('optuna', sys.stdin.read(), trials=500)).id)",
         str(ws.root)], input=text, capture_output=True, text=True, timeout=120, check=True)
    launch_id = starter.stdout.strip()
    try:
        deadline = time.monotonic() + 180
        while True:  # found again, and making progress
            now = launches.status(ws, launch_id)
            assert now.state == "running", (now.state, now.log_file.read_text())
            p = launches.progress(Store(ws.db_url), now) if now.experiment else None
            if p and p.done >= 1 and p.running == 1:
                break
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.5)
        assert [s.id for s in launches.statuses(ws)] == [launch_id]
        cli = [sys.executable, "-m", "kd_automl", "launches"]
        env = {**os.environ, "COLUMNS": "250"}
        listed = subprocess.run([*cli, "list", "-w", str(ws.root)], capture_output=True,
                                text=True, timeout=120, env=env, check=True).stdout
        row = next(line for line in listed.splitlines() if launch_id in line)
        assert re.search(r"optuna\s.*tiny-kd\s.*running\s.*\d+/500 \(\d+ ok", row), row
        stopped = subprocess.run([*cli, "stop", launch_id, "--wait", "-w", str(ws.root)],
                                 capture_output=True, text=True, timeout=180, env=env)
        assert stopped.returncode == 0 and f"{launch_id}: stopped" in stopped.stdout, stopped
        assert "kd-automl optuna" not in stopped.stderr
        stopped = launches.status(ws, launch_id)
        assert stopped.state == "stopped" and stopped.exit_code == 130
        trials = Store(ws.db_url).trials(role="search")
        assert trials and not [t for t in trials if t.state == "running"]
        p = launches.progress(Store(ws.db_url), stopped)  # stopped is not failed, nor done
        assert (p.interrupted, p.failed, p.running, p.done) == (1, 0, 0, p.complete) \
            and p.complete >= 1
    finally:
        if launches.status(ws, launch_id).active:
            launches.stop(ws, launch_id)


def test_launches_cli_on_an_unknown_launch_is_one_clear_error(tmp_path):
    for args in (["stop", "nosuch"], ["log", "nosuch"], ["stop", "../x"]):
        r = subprocess.run([sys.executable, "-m", "kd_automl", "launches", *args, "-w",
                            str(tmp_path / "ws")], capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "no launch" in r.stderr and "Traceback" not in r.stderr
