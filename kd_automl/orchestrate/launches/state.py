"""A launch on disk: ``<workspace>/launches/<id>/`` holds ``launch.json`` (what runs, its
process), ``spec.yaml``, ``log.txt`` and, once the process ends, ``exit.json``. The folder
is this user's alone (mode 0700): the command line it keeps may name a database password."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.workspace import Workspace

LAUNCH_FILE, EXIT_FILE, SPEC_FILE, LOG_FILE = "launch.json", "exit.json", "spec.yaml", "log.txt"


def utcnow() -> datetime:
    """Naive UTC, as the store keeps its times."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class LaunchRecord:
    """One launch: its request, the ``kd-automl`` arguments, the process running them."""

    id: str
    backend: str
    spec_name: str
    study: str | None  # optuna: the study, also the store's experiment name
    argv: list[str]
    request: dict[str, Any]
    created_at: str  # ISO, naive UTC
    trials: int
    port: int | None = None  # nni's web UI
    pid: int | None = None
    pid_started: float | None = None  # the process's start time: a reused pid is not ours
    nni_id: str | None = None  # found once ``nni start`` has launched it
    stop_requested: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    @property
    def db_url(self) -> str:
        """The store this launch writes (its ``--db``)."""
        return self.argv[self.argv.index("--db") + 1]


def launches_root(ws: Workspace) -> Path:
    root = ws.folder("launches")
    root.chmod(0o700)
    return root


def folder(ws: Workspace, launch_id: str) -> Path:
    path = launches_root(ws) / launch_id
    if not _safe_id(launch_id) or not (path / LAUNCH_FILE).is_file():
        raise KDAutoMLError(f"no launch {launch_id!r} in workspace {ws.root}")
    return path


def _safe_id(launch_id: str) -> bool:
    return bool(launch_id) and all(c.isalnum() or c in "-_" for c in launch_id)


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def save(path: Path, rec: LaunchRecord) -> None:
    tmp = path / (LAUNCH_FILE + ".tmp")
    write_private(tmp, json.dumps(asdict(rec), indent=2))
    tmp.replace(path / LAUNCH_FILE)


def load(path: Path) -> LaunchRecord:
    return LaunchRecord(**json.loads((path / LAUNCH_FILE).read_text()))


def load_all(ws: Workspace) -> list[tuple[Path, LaunchRecord]]:
    """Every launch of the workspace, newest first (unreadable folders are skipped)."""
    out = []
    for path in launches_root(ws).iterdir():
        try:
            out.append((path, load(path)))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(out, key=lambda pr: pr[1].created_at, reverse=True)


def exit_info(path: Path) -> dict[str, Any] | None:
    """``{"code": ..., "finished_at": ...}`` once the launch's process has ended."""
    try:
        return json.loads((path / EXIT_FILE).read_text())
    except (OSError, ValueError):
        return None


def process_alive(pid: int | None, started: float | None) -> bool:
    """Whether process ``pid`` (started at ``started``) still runs; reaps it if it is our
    child and has ended."""
    import psutil

    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (a restarted dashboard): nothing to reap
        pass
    try:
        proc = psutil.Process(pid)
        return (proc.status() != psutil.STATUS_ZOMBIE
                and (started is None or abs(proc.create_time() - started) < 1.0))
    except psutil.Error:
        return False
