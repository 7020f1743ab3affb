"""NNI's trial command, warm: hand the trial to the experiment's trial server and stand in for it.

The client connects to the server's socket (``$KD_AUTOML_NNI_TRIAL_SERVER``), hands over its
environment (NNI's trial id, output folder and command channel among it), working folder,
umask (NNI's 077: the trial's files private), arguments and stdin/stdout/stderr, forwards
every stop signal NNI sends to the forked trial, and ends as the trial ended (its exit code,
or the same signal), so NNI watches an ordinary process. Standard library only: no torch, no
NNI.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

from kd_automl.trial_wire import SERVER_ENV, Reader, send

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)


def _say(line: str) -> None:
    print(f"kd-automl: {line}", file=sys.stderr, flush=True)


def _end_as(signum: int) -> None:
    """End this process by ``signum``, as the trial ended (NNI reads how its process ended)."""
    for s in FORWARDED:
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # a signal this process cannot die of


def run_warm(argv: list[str]) -> int | None:
    """The trial's exit code once the server's child ran it; None when there is no server
    (the caller runs the trial itself, cold; one line says why when a server was expected)."""
    path = os.environ.get(SERVER_ENV)
    if not path:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        umask = os.umask(0o077)
        os.umask(umask)
        send(sock, {"op": "trial", "env": dict(os.environ), "cwd": os.getcwd(),
                    "umask": umask, "argv": argv}, fds=(0, 1, 2))
    except OSError as err:
        sock.close()
        _say(f"the warm trial server is unavailable ({err.strerror or err}); "
             "this trial starts cold")
        return None

    def forward(signum, frame):
        try:
            send(sock, {"op": "signal", "signal": signum})
        except OSError:  # the server is gone: stop as the trial would have
            _end_as(signum)

    for s in FORWARDED:
        signal.signal(s, forward)
    reader, child = Reader(sock), None
    while not reader.closed:
        reader.fill()
        for message in reader.messages():
            if "pid" in message:
                child = message["pid"]
            elif "exit" in message:
                return int(message["exit"])
            elif "signal" in message:
                _end_as(int(message["signal"]))
    if child is None:  # no trial was forked: it can still run here
        _say("the warm trial server closed before starting the trial; this trial starts cold")
        for s in FORWARDED:
            signal.signal(s, signal.SIG_DFL if s != signal.SIGINT else signal.default_int_handler)
        return None
    _say(f"the warm trial server stopped while trial process {child} ran")
    return 1
