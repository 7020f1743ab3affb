"""Serving the dashboard: bind first (a port in use is a clear error), then serve.

>>> server = DashboardServer("sqlite:///runs/kd_automl.db", port=0).start()   # doctest: +SKIP
>>> server.url, server.shutdown()                                          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from werkzeug.serving import BaseWSGIServer, make_server

from kd_automl.dashboard.app import create_app
from kd_automl.dashboard.guard import RequestGuard, allowed_hosts, guard_callbacks
from kd_automl.dashboard.launch_page import LaunchSettings
from kd_automl.errors import KDAutoMLError
from kd_automl.store.readonly import check_readable
from kd_automl.store.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)


class DashboardServer:
    """The dashboard of database ``url`` on ``host:port`` (``port=0``: any free port)."""

    def __init__(self, url: str, host: str = "127.0.0.1", port: int = 8050,
                 refresh_s: float = 5.0, token: str | None = None,
                 allow_launch: bool = False, workspace: str | Path | None = None):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        _check_port(host, port)
        launch = None
        if allow_launch:  # launching needs a token: a random one unless given
            token = token or secrets.token_urlsafe(24)
            launch = LaunchSettings(Workspace.resolve(workspace), url)
            Store(url).dispose()  # launches write it: create or upgrade it first
        store = Store.open_read_only(url)
        try:
            check_readable(store.engine)  # a damaged file: one clear error before serving
        except KDAutoMLError:
            store.dispose()
            raise
        self.app = create_app(store, refresh_s=refresh_s, launch=launch)
        self.allow_launch = allow_launch
        guard_callbacks(self.app)
        try:
            self._server: BaseWSGIServer = make_server(
                host, port, lambda env, start: self._guard(env, start), threaded=True)
        except (OSError, SystemExit):  # werkzeug exits when the port is taken
            store.dispose()
            raise _port_error(host, port, "in use") from None
        self.store, self.token = store, token or None
        self.host, self.port = host, self._server.server_port
        self._guard = RequestGuard(self.app.server, allowed_hosts(host, self.port),
                                   self.token, self.port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    @property
    def login_url(self) -> str:
        """The URL to open: with ``?token=`` when the dashboard has a token."""
        return f"{self.url}?{urlencode({'token': self.token})}" if self.token else self.url

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
            self.store.dispose()

    def start(self) -> DashboardServer:
        """Serve from a background thread (for tests and notebooks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="kd-dashboard",
                                        daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop a server started with :meth:`start` (or close one never started)."""
        if self._thread is None:
            self._server.server_close()
            self.store.dispose()
            return
        self._server.shutdown()
        self._thread.join(timeout=10)


def _port_error(host: str, port: int, reason: str) -> KDAutoMLError:
    return KDAutoMLError(f"cannot serve the dashboard on {host}:{port}: {reason} (another "
                         "server is using the port? pick another with --port)")


def _check_port(host: str, port: int) -> None:
    """Bind once, as the server will, so a taken port is a clear error before anything
    starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise KDAutoMLError(f"cannot serve the dashboard on {host!r}: {err}; "
                            "use --host 127.0.0.1") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as err:
            raise _port_error(host, port, err.strerror or str(err)) from None


def serve(url: str, host: str = "127.0.0.1", port: int = 8050, refresh_s: float = 5.0,
          on_ready: Callable[[str], None] | None = None, token: str | None = None,
          allow_launch: bool = False, workspace: str | Path | None = None) -> None:
    """Serve the dashboard of ``url`` until interrupted (``allow_launch``: with the launch
    page, whose launches keep their state in ``workspace``)."""
    server = DashboardServer(url, host, port, refresh_s, token=token,
                             allow_launch=allow_launch, workspace=workspace)
    if on_ready:
        on_ready(server.login_url)
    log.info("dashboard on %s", server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
