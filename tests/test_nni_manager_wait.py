"""NNI's manager may take longer than NNI 3.0's 3 s to answer on a busy machine: a launch
inside ``private_launch`` waits for it (a real HTTP server that starts late stands in for a
slow Node start; NNI's own readiness check is what runs)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from kd_automl.orchestrate.nni.private import private_launch

pytest.importorskip("nni", reason='NNI is not installed (the "nni" extra)')


class _Status(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps({"status": "RUNNING"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_after(port: int, delay_s: float) -> list[HTTPServer]:
    """Start answering on ``port`` after ``delay_s``; the list gets the server to shut down."""
    started: list[HTTPServer] = []

    def run():
        time.sleep(delay_s)
        started.append(HTTPServer(("127.0.0.1", port), _Status))
        started[0].serve_forever(poll_interval=0.1)

    threading.Thread(target=run, daemon=True).start()
    return started


def test_a_manager_slower_than_three_seconds_is_waited_for():
    from nni.experiment import launcher

    late = _free_port()
    server = _serve_after(late, 9.0)  # after both of NNI's own 3 s budgets
    try:
        with pytest.raises(requests.ConnectionError):  # NNI alone gives up after about 3 s
            launcher._check_rest_server(late, url_prefix="p")
        with private_launch():
            launcher._check_rest_server(late, url_prefix="p")  # waits, then answers
    finally:
        for s in server:
            s.shutdown()
    assert launcher._check_rest_server.__name__ == "_check_rest_server"  # restored after


def test_a_secret_prefix_is_never_read_as_an_option():
    from kd_automl.orchestrate.nni.launch import new_prefix

    prefixes = {new_prefix() for _ in range(2000)}  # token_urlsafe began with "-" 1 in 64
    assert len(prefixes) == 2000
    assert all(len(p) >= 32 and p.isalnum() for p in prefixes)
