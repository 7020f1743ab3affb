"""An NNI experiment's warm trial server (:mod:`kd_automl.trials.warm_server`), from the
launch's side.

Started before NNI's manager, which inherits the socket's path (``$KD_AUTOML_NNI_TRIAL_SERVER``)
and hands it to every trial command; told to follow the manager once it runs, and gone with it
(``nni stop``, the web UI's stop, Ctrl-C of ``nni start``). ``KD_AUTOML_NNI_WARM=0`` starts
none: every trial then starts cold, in a process of its own, as NNI runs it.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kd_automl.orchestrate.nni.env import nni_home
from kd_automl.trial_wire import SERVER_ENV, send
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

WARM_ENV = "KD_AUTOML_NNI_WARM"  # "0": no trial server
SERVER_MODULE = "kd_automl.trials.warm_server"
SOCKET_PATH_MAX = 100  # Linux takes at most 107 bytes for a unix socket's path


def experiment_dir(ws: Workspace, exp_id: str) -> Path:
    return nni_home(ws) / "nni-experiments" / exp_id


def socket_path(ws: Workspace, exp_id: str) -> Path:
    """The server's socket: in the experiment's folder (private to its user), or in a private
    folder of the temp dir when that path is too long for a socket."""
    path = experiment_dir(ws, exp_id) / "trial-server.sock"
    if len(str(path)) <= SOCKET_PATH_MAX:
        return path
    short = Path(tempfile.gettempdir()) / f"kd-automl-{os.geteuid()}"
    short.mkdir(mode=0o700, exist_ok=True)
    info = short.lstat()
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077 or stat.S_ISLNK(
            info.st_mode):
        raise OSError(f"{short} is not this user's private folder")
    return short / f"{exp_id}.sock"


def start_server(ws: Workspace, exp_id: str, dataset: str) -> Path | None:
    """Start the experiment's trial server; its socket's path, None when trials start cold
    (``KD_AUTOML_NNI_WARM=0``, or no server could start: one line says why)."""
    os.environ.pop(SERVER_ENV, None)
    if os.environ.get(WARM_ENV, "1") == "0":
        return None
    try:
        path = socket_path(ws, exp_id)
        folder = experiment_dir(ws, exp_id)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / "trial-server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, "--socket", str(path), "--watch",
                 str(os.getpid()), "--dataset", dataset],
                stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True,
                cwd=folder)
        finally:
            os.close(fd)
    except OSError as err:
        log.warning("no warm trial server (%s); NNI's trials start cold", err)
        return None
    os.environ[SERVER_ENV] = str(path)
    return path


def _tell(path: Path, message: dict, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(path))
                send(sock, message)
            return True
        except OSError as err:
            if time.monotonic() > deadline:
                log.warning("the warm trial server did not answer (%s)", err)
                return False
            time.sleep(0.1)


def follow(path: Path | None, pid: int | None, timeout: float = 30.0) -> bool:
    """Tell the server at ``path`` to serve while ``pid`` (NNI's manager) runs."""
    return path is not None and pid is not None and _tell(path, {"op": "watch", "pid": pid},
                                                          timeout)


def stop_server(path: Path | None) -> None:
    """Stop the server at ``path`` (a launch that failed; else it follows this process)."""
    if path is not None:
        _tell(path, {"op": "stop"}, timeout=1.0)
