"""Start, list and stop launches: each is a ``kd-automl optuna`` or ``kd-automl nni start
--detach`` command run in a background process (its own session, so it outlives the server
that started it), with its state in the workspace so a restarted server finds it again.

A process, not a thread of the caller: a search installs signal handlers, sets torch's
threads and (NNI) points ``HOME`` at the workspace, all process-wide, and Stop must be the
signal a terminal's Ctrl-C sends.

>>> rec = start(ws, db_url, LaunchRequest("optuna", text, trials=4))  # doctest: +SKIP
>>> [s.state for s in statuses(ws)], stop(ws, rec.id)                 # doctest: +SKIP
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import kd_automl.orchestrate.launches.state as st
from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.launches.request import LaunchRequest
from kd_automl.workspace import Workspace

ENTRY = "kd_automl.processes.launch"
STOPPER = "kd_automl.processes.nni_stop"
STOPPED_CODES = (130, 143, 129)
_NNI_STATES = {"DONE": "done", "STOPPED": "stopped", "ERROR": "failed"}


@dataclass(frozen=True)
class LaunchStatus:
    """Where a launch stands: ``state`` is starting, running, stopping, done, stopped,
    failed or lost (its process vanished without a word)."""

    record: st.LaunchRecord
    state: str
    experiment: str | None  # its name in the store, once known
    exit_code: int | None
    finished_at: str | None
    log_file: Path
    serving: bool = False  # nni: its manager (and web UI) still runs, even once done

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state_text(self) -> str:
        """The state, with the exit code when the process failed."""
        return self.state if self.exit_code in (None, 0) else \
            f"{self.state} (exit {self.exit_code})"

    @property
    def active(self) -> bool:
        return self.state in ("starting", "running", "stopping")


def start(ws: Workspace, db_url: str, request: LaunchRequest) -> st.LaunchRecord:
    """Check ``request`` and start its command in the background; returns its record."""
    spec = request.check()
    launch_id = f"{st.utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    path = st.launches_root(ws) / launch_id
    path.mkdir(mode=0o700)
    spec_file = path / st.SPEC_FILE
    st.write_private(spec_file, request.spec_text)
    study = (request.study or spec.name) if request.backend == "optuna" else None
    port = (request.port or _free_port()) if request.backend == "nni" else None
    rec = st.LaunchRecord(
        id=launch_id, backend=request.backend, spec_name=spec.name, study=study,
        argv=request.argv(spec_file, ws.root, db_url, study or "", port),
        request=request.to_dict(), created_at=st.utcnow().isoformat(),
        trials=request.trials, port=port)
    st.save(path, rec)
    rec.pid, rec.pid_started = _spawn(ws, path, ENTRY, {"COLUMNS": "120"})
    st.save(path, rec)
    return rec


def statuses(ws: Workspace) -> list[LaunchStatus]:
    """Every launch of the workspace, newest first, with its live state."""
    return [_status(ws, path, rec) for path, rec in st.load_all(ws)]


def status(ws: Workspace, launch_id: str) -> LaunchStatus:
    path = st.folder(ws, launch_id)
    return _status(ws, path, st.load(path))


def stop(ws: Workspace, launch_id: str) -> LaunchStatus:
    """Stop a launch as Ctrl-C stops its command: SIGINT to its process (the running trials
    are stored as interrupted); a launched NNI experiment through ``kd-automl nni stop``
    (which also closes a finished one's web UI)."""
    path = st.folder(ws, launch_id)
    rec = st.load(path)
    now = _status(ws, path, rec)
    if not (now.active or now.serving):
        raise KDAutoMLError(f"launch {launch_id} is not running ({now.state})")
    rec.stop_requested = True
    st.save(path, rec)
    if st.process_alive(rec.pid, rec.pid_started):
        os.kill(rec.pid, signal.SIGINT)
    elif rec.nni_id:
        _start_nni_stopper(ws, path, rec)
    return _status(ws, path, rec)


def _start_nni_stopper(ws: Workspace, path: Path, rec: st.LaunchRecord) -> None:
    """``kd-automl nni stop ID`` in a process of its own (NNI's client points HOME at the
    workspace process-wide, and stopping waits for the trials to end, which may take
    minutes): the launch shows "stopping" until it ends; its output goes to the log."""
    pid, started = _spawn(ws, path, STOPPER)
    rec.extra["stopper"] = {"pid": pid, "started": started}
    st.save(path, rec)


def _spawn(ws: Workspace, path: Path, module: str, env: dict[str, str] | None = None
           ) -> tuple[int, float | None]:
    """``python -m module FOLDER`` in a session of its own (it outlives its caller), its
    output appended to the launch's log; returns its pid and start time (None if it has
    ended already)."""
    import psutil

    log = os.open(path / st.LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen([sys.executable, "-m", module, str(path)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=ws.root,
                                start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    finally:
        os.close(log)
    try:
        return proc.pid, psutil.Process(proc.pid).create_time()
    except psutil.Error:  # ended already: its exit is recorded
        return proc.pid, None


def _stopping(rec: st.LaunchRecord) -> bool:
    """Whether the process stopping this launch's NNI experiment still runs."""
    stopper = rec.extra.get("stopper") or {}
    return st.process_alive(stopper.get("pid"), stopper.get("started"))


def wait(ws: Workspace, launch_id: str, timeout: float = 600,
         until: tuple[str, ...] = ("done", "stopped", "failed", "lost")) -> LaunchStatus:
    """Poll until the launch reaches one of ``until``; an error after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        now = status(ws, launch_id)
        if now.state in until:
            return now
        if time.monotonic() > deadline:
            raise KDAutoMLError(f"launch {launch_id} is still {now.state} after {timeout:.0f} s")
        time.sleep(0.5)


def nni_web_ui(ws: Workspace, rec: st.LaunchRecord) -> str | None:
    """The URL of a launched NNI experiment's web UI, secret prefix included (for the
    token holder's eyes only)."""
    from kd_automl.orchestrate.nni.launched import web_ui

    return web_ui(ws, rec.nni_id)


def _status(ws: Workspace, path: Path, rec: st.LaunchRecord) -> LaunchStatus:
    log = path / st.LOG_FILE
    ended = st.exit_info(path)
    code = ended.get("code") if ended else None
    finished = ended.get("finished_at") if ended else None
    if st.process_alive(rec.pid, rec.pid_started):
        state = "stopping" if rec.stop_requested else (
            "starting" if rec.backend == "nni" else "running")
        return LaunchStatus(rec, state, rec.study, None, None, log)
    if ended is None:
        return LaunchStatus(rec, "stopped" if rec.stop_requested else "lost", rec.study,
                            None, None, log)
    if code != 0 or rec.backend == "optuna":
        state = ("done" if code == 0 else "stopped" if code in STOPPED_CODES
                 or rec.stop_requested else "failed")
        return LaunchStatus(rec, state, rec.study or _nni_store_name(ws, path, rec), code,
                            finished, log)
    return _nni_status(ws, path, rec, code, finished, log)


def _nni_status(ws: Workspace, path: Path, rec: st.LaunchRecord, code: int,
                finished: str | None, log: Path) -> LaunchStatus:
    """``nni start --detach`` has returned: the experiment's own state, from its manager."""
    from kd_automl.orchestrate.nni.launched import manager_pid, manager_state

    name = _nni_store_name(ws, path, rec)
    if not rec.nni_id or not st.process_alive(manager_pid(ws, rec.nni_id), None):
        state = ("failed" if not rec.nni_id else  # the last state its manager told
                 _NNI_STATES.get(rec.extra.get("nni_state", ""), "stopped"))
        return LaunchStatus(rec, state, name, code, finished, log)
    nni_state = manager_state(ws, rec.nni_id)
    if nni_state and nni_state != rec.extra.get("nni_state"):
        rec.extra["nni_state"] = nni_state
        st.save(path, rec)
    if _stopping(rec):
        return LaunchStatus(rec, "stopping", name, code, finished, log, serving=True)
    state = _NNI_STATES.get(nni_state or "", "running")
    return LaunchStatus(rec, state, name, code, finished, log, serving=True)


def _nni_store_name(ws: Workspace, path: Path, rec: st.LaunchRecord) -> str | None:
    """The store's name of the NNI experiment this launch started (found by its port, then
    remembered in the launch's record)."""
    from kd_automl.orchestrate.nni.launch import store_name_of
    from kd_automl.orchestrate.nni.launched import find_by_port

    if rec.nni_id is None:
        since = rec.created.replace(tzinfo=UTC).timestamp() - 1
        if (found := find_by_port(ws, rec.port, since)) is not None:
            rec.nni_id = found
            st.save(path, rec)
    return None if rec.nni_id is None else store_name_of(ws, rec.nni_id)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
