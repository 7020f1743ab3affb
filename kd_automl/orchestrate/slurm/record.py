"""What a Slurm submission leaves in the workspace: ``<workspace>/slurm/<job id>.json`` (the
study, its store, the target) for ``kd-automl cluster status|log``, and submitit's folders
``<workspace>/slurm/jobs/<job id>_<task>/`` (the pickled call, its result, the task's log)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kd_automl.workspace import Workspace


def slurm_dir(ws: Workspace) -> Path:
    return ws.root / "slurm"


def jobs_dir(ws: Workspace) -> Path:
    return slurm_dir(ws) / "jobs"


def save(ws: Workspace, job_id: str, data: dict[str, Any]) -> Path:
    path = slurm_dir(ws) / f"{job_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the --db URL
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    return path


def load(ws: Workspace, job_id: str) -> dict[str, Any] | None:
    path = slurm_dir(ws) / f"{job_id.split('_')[0]}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def task_logs(ws: Workspace, job_id: str) -> list[Path]:
    """The tasks' log files (``<job>_<task>/<job>_<task>_0_log.out``; a one-task submission
    is a plain job, ``<job>/<job>_0_log.out``), by task number."""
    array, _, task = job_id.partition("_")
    found = list(jobs_dir(ws).glob(f"{array}_{task or '*'}/{array}_{task or '*'}_0_log.out"))
    if not task:
        found += list(jobs_dir(ws).glob(f"{array}/{array}_0_log.out"))
    return sorted(found, key=lambda p: int(p.parent.name.rpartition("_")[2] or 0))
