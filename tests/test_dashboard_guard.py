"""The dashboard answers only requests for its own address (a DNS-rebinding page names another
host), with its token when it has one, and a malformed callback is a 4xx, not a traceback.
Real HTTP requests against a started DashboardServer."""

from __future__ import annotations

import http.client
import logging
import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests
from helpers.stores import fill

from kd_automl.dashboard import DashboardServer
from kd_automl.store import Store

CALLBACK = "_dash-update-component"


def _experiments_body(version: object = "x") -> dict:
    return {"output": "experiments.rowData",
            "outputs": {"id": "experiments", "property": "rowData"},
            "inputs": [{"id": "version", "property": "data", "value": version}],
            "changedPropIds": ["version.data"]}


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('guard') / 'kd.db'}"
    store = Store(url)
    fill(store, 2)
    store.dispose()
    return url


@pytest.fixture
def server(db):
    srv = DashboardServer(db, port=0).start()
    yield srv
    srv.shutdown()


def _get(port: int, host_header: str | None, path: str = "/") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    if host_header is not None:
        conn.putheader("Host", host_header)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_only_its_own_host_names_are_served(server):
    p = server.port
    for good in (f"127.0.0.1:{p}", f"localhost:{p}", f"LOCALHOST:{p}", f"[::1]:{p}"):
        assert _get(p, good) == 200, good
    for bad in ("evil.example", f"evil.example:{p}", f"localhost:{p + 1}", "127.0.0.1",
                f"127.0.0.1.nip.io:{p}"):
        assert _get(p, bad) == 403, bad
        assert _get(p, bad, "/_dash-layout") == 403, bad
    assert _get(p, None) == 400
    r = requests.post(server.url + CALLBACK, json=_experiments_body(),
                      headers={"Host": f"rebind.example:{p}"}, timeout=10)
    assert r.status_code == 403 and "tiny-kd" not in r.text


def test_the_host_it_was_told_to_serve_is_accepted(db):
    srv = DashboardServer(db, host="127.0.0.2", port=0).start()
    try:
        assert _get_at("127.0.0.2", srv.port, f"127.0.0.2:{srv.port}") == 200
        assert _get_at("127.0.0.2", srv.port, f"localhost:{srv.port}") == 200
        assert _get_at("127.0.0.2", srv.port, f"evil.example:{srv.port}") == 403
    finally:
        srv.shutdown()


def _get_at(addr: str, port: int, host_header: str) -> int:
    return requests.get(f"http://{addr}:{port}/", headers={"Host": host_header},
                        timeout=10).status_code


def test_a_token_is_required_when_set(db):
    srv = DashboardServer(db, port=0, token="s3cret-token").start()
    try:
        base = srv.url
        assert srv.login_url == f"{base}?token=s3cret-token"
        assert requests.get(base, timeout=10).status_code == 401
        assert requests.get(base + "_dash-layout", timeout=10).status_code == 401
        assert requests.post(base + CALLBACK, json=_experiments_body(),
                             timeout=10).status_code == 401
        assert requests.get(base + "?token=wrong", timeout=10).status_code == 403
        # the login URL sets a cookie and sends the browser on without the token in the URL
        session = requests.Session()
        r = session.get(srv.login_url, allow_redirects=False, timeout=10)
        assert r.status_code == 303 and "token" not in r.headers["Location"]
        assert "HttpOnly" in r.headers["Set-Cookie"]
        r = session.get(base + r.headers["Location"].lstrip("/"), timeout=10)
        assert r.status_code == 200
        r = session.post(base + CALLBACK, json=_experiments_body(), timeout=10)
        assert r.status_code == 200 and "tiny-kd" in r.text
        # a script may send it as a header instead
        r = requests.post(base + CALLBACK, json=_experiments_body(), timeout=10,
                          headers={"Authorization": "Bearer s3cret-token"})
        assert r.status_code == 200 and "tiny-kd" in r.text
        assert requests.get(base, headers={"X-KD-Automl-Token": "s3cret-token"},
                            timeout=10).status_code == 200
    finally:
        srv.shutdown()


MALFORMED = [
    b"not json", b"[]", b"{}", b'{"output": "nope.x"}', b'{"output": 3}',
    b'{"output": "experiments.rowData", "outputs": {}, "inputs": "x"}',
    b'{"output": "experiments.rowData", "outputs": {"id": "experiments", '
    b'"property": "rowData"}, "inputs": [17]}',
    # well-formed, with values the page never sends
    b'{"output": "trial-panel.children", "outputs": {"id": "trial-panel", "property": '
    b'"children"}, "inputs": [{"id": "leaderboard", "property": "cellClicked", "value": '
    b'{"rowId": "abc"}}, {"id": "version", "property": "data", "value": "x"}], '
    b'"changedPropIds": ["leaderboard.cellClicked"]}',
    b'{"output": "figures.children", "outputs": {"id": "figures", "property": "children"}, '
    b'"inputs": [{"id": "version", "property": "data", "value": "x"}, {"id": "experiments", '
    b'"property": "selectedRows", "value": [{"id": "x"}]}], "changedPropIds": []}',
]


def test_malformed_callbacks_are_4xx_without_a_traceback(server, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    for body in MALFORMED:
        r = requests.post(server.url + CALLBACK, data=body, timeout=10,
                          headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (body, r.status_code)
    r = requests.post(server.url + CALLBACK, json=_experiments_body(), timeout=10)
    assert r.status_code == 200 and "tiny-kd" in r.text  # well-formed ones still work
    _, err = capfd.readouterr()
    assert "Traceback" not in err
    assert not [rec for rec in caplog.records if rec.exc_info and rec.levelno > logging.DEBUG]


def test_cli_dashboard_token(db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "300",
           "KD_AUTOML_DASHBOARD_TOKEN": "from-the-env"}
    proc = subprocess.Popen([sys.executable, "-m", "kd_automl", "dashboard", "--db", db,
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 90
        while "dashboard on" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "dashboard exited"
            assert time.monotonic() < deadline
        url = re.search(r"(http://\S+)", line).group(1)
        assert url == f"http://127.0.0.1:{port}/?token=from-the-env"
        assert requests.get(url.split("?")[0], timeout=10).status_code == 401
        assert requests.get(url, timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _raised(fn) -> BaseException:
    try:
        fn()
    except BaseException as err:  # noqa: BLE001 - the test looks at what was raised
        return err
    raise AssertionError("nothing raised")


def test_only_errors_of_the_request_are_called_malformed():
    import types

    from kd_automl.dashboard.guard import is_request_error

    half = types.ModuleType("pandas")  # as a second thread sees it while the first imports
    assert is_request_error(_raised(lambda: {}["rowId"]))
    assert is_request_error(_raised(lambda: int("abc")))
    assert is_request_error(_raised(lambda: [][0]))
    assert is_request_error(_raised(lambda: "x".get("id")))  # a value of the wrong type
    assert not is_request_error(_raised(lambda: half.Series))
    assert not is_request_error(AttributeError(
        "partially initialized module 'pandas' has no attribute 'Series' (most likely due to "
        "a circular import)"))
    assert not is_request_error(_raised(lambda: __import__("no_such_module_kd")))
    assert not is_request_error(RuntimeError("database is locked"))
    assert not is_request_error(OSError("disk full"))


def test_a_server_error_in_a_callback_is_a_500_logged_with_its_traceback(caplog):
    import types

    from dash import Dash, Input, Output, html

    from kd_automl.dashboard.guard import guard_callbacks

    half = types.ModuleType("pandas")
    app = Dash(__name__)
    app.layout = html.Div([html.Div(id="a"), html.Div(id="b")])

    @app.callback(Output("b", "children"), Input("a", "children"))
    def _cb(value):
        if value == "server":
            return half.Series  # AttributeError of a module: the server's fault
        return {"k": 1}[value]  # KeyError from the request's value

    guard_callbacks(app)
    client = app.server.test_client()

    def post(value):
        return client.post("/_dash-update-component", json={
            "output": "b.children", "outputs": {"id": "b", "property": "children"},
            "inputs": [{"id": "a", "property": "children", "value": value}],
            "changedPropIds": ["a.children"]})

    caplog.set_level(logging.INFO, logger="kd_automl.dashboard.guard")
    r = post("nope")
    assert r.status_code == 400 and "KeyError" in r.text
    assert any("malformed" in rec.getMessage() and rec.exc_info is None
               for rec in caplog.records)
    caplog.clear()
    r = post("server")
    assert r.status_code == 500 and "malformed" not in r.text
    (rec,) = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert "server error" in rec.getMessage() and rec.exc_info[0] is AttributeError
    assert post("k").status_code == 200


def test_the_callbacks_imports_are_done_before_serving(db):
    # a fresh interpreter: a server built, not yet serving, has imported what the callbacks
    # would import on their threads (pandas through optuna.importance, on the first page)
    code = ("import sys\nfrom kd_automl.dashboard import DashboardServer\n"
            "from kd_automl.dashboard.app import CALLBACK_IMPORTS\n"
            f"srv = DashboardServer({db!r}, port=0)\n"
            "print(sorted(m for m in (*CALLBACK_IMPORTS, 'sklearn') if m not in sys.modules))\n"
            "srv.shutdown()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
