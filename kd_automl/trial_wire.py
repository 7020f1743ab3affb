"""The warm trial server's wire: newline-ended JSON messages over a unix socket, the first one
carrying the client's stdin, stdout and stderr as file descriptors. Standard library only:
NNI's trial command imports it before anything heavy.

Client to server: ``{"op": "trial", "env", "cwd", "umask", "argv"}`` (once, with the
descriptors),
``{"op": "signal", "signal": n}`` (forwarded to the trial), or ``{"op": "watch", "pid": n}``
(the launch: stop when that process is gone). Server to client: ``{"pid": n}`` once the
trial is forked, then ``{"exit": code}`` or ``{"signal": n}`` when it ends.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

SERVER_ENV = "KD_AUTOML_NNI_TRIAL_SERVER"  # the socket's path, inherited from NNI's manager
FDS_MAX = 3


def send(sock: socket.socket, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    """One message; ``fds`` travel with a first byte of their own (SCM_RIGHTS)."""
    if fds:
        socket.send_fds(sock, [b"F"], list(fds))
    sock.sendall(json.dumps(message).encode() + b"\n")


class Reader:
    """The messages arriving on one connection, and the descriptors that came with them."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buf, self.fds = sock, b"", []
        self.started = self.closed = False

    def fill(self) -> None:
        """Read what is there (blocking if nothing is); ``closed`` at the end of the stream."""
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, FDS_MAX)
        except ConnectionResetError:
            data, fds = b"", []
        self.fds += fds
        eof = data == b""
        if not self.started and data[:1] == b"F":  # the descriptors' own byte
            data = data[1:]
        self.started = self.started or not eof
        self.buf += data
        self.closed = self.closed or eof

    def messages(self) -> Iterator[dict[str, Any]]:
        """The complete messages read so far."""
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            yield json.loads(line)
