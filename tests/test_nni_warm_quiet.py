"""NNI's start-up is quiet: a manager slow to answer gives one "waiting" line, not NNI's
"Timeout, retry..." every second, and NNI's log lines reach this process's handlers once (a
real HTTP server that starts late stands in for a slow Node start)."""

import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

pytest.importorskip("nni", reason='NNI is not installed (the "nni" extra)')


class _Status(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body = b'{"status": "RUNNING"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_slow_manager_gives_one_waiting_line_and_no_retry_lines():
    from nni.experiment import launcher

    from kd_automl.orchestrate.nni.env import import_nni
    from kd_automl.orchestrate.nni.private import private_launch

    import_nni()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    servers = []

    def serve_late():
        time.sleep(3.5)  # NNI warns from its second try on
        servers.append(HTTPServer(("127.0.0.1", port), _Status))
        servers[0].serve_forever(poll_interval=0.1)

    threading.Thread(target=serve_late, daemon=True).start()
    records, waits = _Records(), []
    logging.getLogger().addHandler(records)
    try:
        with private_launch(on_wait=lambda: waits.append(time.monotonic())):
            launcher._check_rest_server(port, url_prefix="p")
    finally:
        logging.getLogger().removeHandler(records)
        for server in servers:
            server.shutdown()
    assert len(waits) == 1
    assert not [line for line in records.lines if "Timeout, retry" in line]


def test_nni_log_lines_reach_the_handlers_once():
    from kd_automl.orchestrate.nni.env import import_nni

    import_nni()
    records = _Records()
    logging.getLogger().addHandler(records)
    try:
        logging.getLogger("nni.experiment.launcher").warning("a line of NNI's")
    finally:
        logging.getLogger().removeHandler(records)
    assert records.lines == ["a line of NNI's"]  # through the root's handlers
    own = [h for h in logging.getLogger("nni").handlers if type(h) is logging.StreamHandler]
    assert own == []  # NNI's own stdout handler, which printed every line a second time
