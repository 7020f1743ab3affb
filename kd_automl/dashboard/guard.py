"""Who may ask the dashboard: requests for its own address only, with its token when it has one;
a malformed callback request is a 4xx without a traceback, a failure of the server a 500 logged
with its traceback.

The Host check stops DNS rebinding (a page of another site whose name comes to point at
127.0.0.1 still sends its own name as Host). The token, when set, comes from ``?token=`` on the
first page (then an HttpOnly cookie), an ``X-KD-Automl-Token`` header or
``Authorization: Bearer``.
"""

from __future__ import annotations

import hmac
import logging
import socket
import traceback
import types
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from dash import Dash
from flask import Response, request

log = logging.getLogger(__name__)
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("", "0.0.0.0", "::")


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host header values of this server: local names, plus the name it binds."""
    names = set(LOCAL_NAMES)
    if host in WILDCARDS:  # every interface: also this machine's own names
        names |= {socket.gethostname(), socket.getfqdn()}
    else:
        names.add(f"[{host}]" if ":" in host else host)
    hosts = {f"{n.lower()}:{port}" for n in names}
    return hosts | ({n.lower() for n in names} if port == 80 else set())


class RequestGuard:
    """WSGI middleware: 400 without a Host, 403 for another host, 401/403 without the token."""

    def __init__(self, app: Callable, hosts: Iterable[str], token: str | None, port: int):
        self.app, self.hosts, self.token = app, set(hosts), token
        self.cookie = f"kd_automl_token_{port}"

    def __call__(self, environ: dict[str, Any], start_response: Callable):
        host = environ.get("HTTP_HOST")
        if not host:
            return _plain(start_response, "400 Bad Request", "a Host header is required")
        if host.lower() not in self.hosts:
            return _plain(start_response, "403 Forbidden",
                          "this dashboard only answers requests for its own address")
        if self.token is None or self._carries_token(environ):
            return self.app(environ, start_response)
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        if "token" not in query:
            return _plain(start_response, "401 Unauthorized",
                          "this dashboard needs its token: open the URL it printed at start")
        if not _same(query["token"], self.token):
            return _plain(start_response, "403 Forbidden", "wrong token")
        rest = urlencode([(k, v) for k, v in parse_qsl(environ.get("QUERY_STRING", ""))
                          if k != "token"])
        location = environ.get("PATH_INFO", "/") + (f"?{rest}" if rest else "")
        start_response("303 See Other", [
            ("Location", location), ("Content-Length", "0"),
            ("Set-Cookie", f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Lax")])
        return [b""]

    def _carries_token(self, environ: dict[str, Any]) -> bool:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        sent = [environ.get("HTTP_X_KD_AUTOML_TOKEN"),
                auth[7:] if auth.startswith("Bearer ") else None]
        cookies = SimpleCookie()
        try:
            cookies.load(environ.get("HTTP_COOKIE", ""))
        except Exception:  # a malformed Cookie header: as if none
            cookies = SimpleCookie()
        if self.cookie in cookies:
            sent.append(cookies[self.cookie].value)
        return any(s is not None and _same(s, self.token) for s in sent)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _plain(start_response: Callable, status: str, text: str) -> list[bytes]:
    body = (text + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body)))])
    return [body]


def guard_callbacks(app: Dash) -> None:
    """Callback requests that do not fit a callback of ``app``, or whose values make it fail
    (a crafted POST), get a 400 and one log line instead of a 500 and a traceback."""
    server = app.server
    endpoint = next(r.endpoint for r in server.url_map.iter_rules()
                    if r.rule.endswith("/_dash-update-component"))
    dispatch = server.view_functions[endpoint]

    def guarded(*args: Any, **kwargs: Any):
        problem = _malformed(request.get_json(silent=True), app.callback_map)
        if problem:
            return _bad_request(problem)
        try:
            return dispatch(*args, **kwargs)
        except Exception as err:
            if is_request_error(err):
                return _bad_request(f"{type(err).__name__}: {err}")
            return _server_error(err)

    server.view_functions[endpoint] = guarded


REQUEST_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def is_request_error(err: BaseException) -> bool:
    """Whether a callback failed on what the request sent (a missing key, a value of a type
    the page never sends) rather than on the server. A module without the attribute asked
    of it (``partially initialized module 'pandas' has no attribute 'Series'``: two callback
    threads importing it at once), an error raised while importing, and every other class of
    error (the store, the disk, ...) are the server's."""
    if not isinstance(err, REQUEST_ERRORS):
        return False
    if isinstance(err, AttributeError) and (
            isinstance(getattr(err, "obj", None), types.ModuleType)
            or "partially initialized module" in str(err)):
        return False
    frames = traceback.extract_tb(err.__traceback__)
    return not any(f.filename.startswith("<frozen importlib") for f in frames)


def _malformed(body: Any, callbacks: dict[str, Any]) -> str | None:
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if not isinstance(body.get("output"), str) or body["output"] not in callbacks:
        return "no such callback output"
    for key in ("inputs", "state"):
        items = body.get(key, [])
        if not isinstance(items, list) or not all(
                isinstance(i, dict) and "id" in i and "property" in i
                for i in _flat(items)):
            return f"malformed {key}"
    if not isinstance(body.get("outputs"), dict | list):
        return "malformed outputs"
    return None


def _flat(items: list) -> list:
    return [j for i in items for j in (i if isinstance(i, list) else [i])]


def _server_error(err: BaseException) -> Response:
    log.error("a dashboard callback failed (a server error, not the request's)",
              exc_info=(type(err), err, err.__traceback__))
    return Response("the dashboard failed on this request; its log has the traceback\n",
                    status=500, mimetype="text/plain")


def _bad_request(problem: str) -> Response:
    log.warning("rejected a malformed dashboard callback request (%s)", problem[:200])
    return Response(f"bad callback request: {problem[:200]}\n", status=400,
                    mimetype="text/plain")
