"""Serving the dashboard: bind first (a port in use is a clear error), then serve.

>>> server = DashboardServer("sqlite:///runs/kd_automl.db", port=0).start()   # doctest: +SKIP
>>> server.url, server.shutdown()                                          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from werkzeug.serving import BaseWSGIServer, make_server

from kd_automl.dashboard.app import create_app
from kd_automl.errors import KDAutoMLError
from kd_automl.store.store import Store

log = logging.getLogger(__name__)


class DashboardServer:
    """The dashboard of database ``url`` on ``host:port`` (``port=0``: any free port)."""

    def __init__(self, url: str, host: str = "127.0.0.1", port: int = 8050,
                 refresh_s: float = 5.0):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        store = Store.open_read_only(url)
        self.app = create_app(store, refresh_s=refresh_s)
        try:
            self._server: BaseWSGIServer = make_server(host, port, self.app.server,
                                                       threaded=True)
        except OSError as err:
            store.dispose()
            raise KDAutoMLError(f"cannot serve the dashboard on {host}:{port}: "
                                f"{err.strerror or err} (is another server using the port? "
                                "pick another with --port)") from None
        self.store = store
        self.host, self.port = host, self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

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


def serve(url: str, host: str = "127.0.0.1", port: int = 8050, refresh_s: float = 5.0,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve the dashboard of ``url`` until interrupted."""
    server = DashboardServer(url, host, port, refresh_s)
    if on_ready:
        on_ready(server.url)
    log.info("dashboard on %s", server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
