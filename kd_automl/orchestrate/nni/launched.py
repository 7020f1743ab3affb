"""What a launch (the dashboard's, or ``kd-automl launches``) asks of an NNI experiment it
started: which experiment its port started, whether its manager still runs, its guarded
web UI and the state the manager reports. NNI's files and REST paths stay in this package.
"""

from __future__ import annotations

import json
import urllib.request

from kd_automl.orchestrate.nni.env import load_secret, nni_home, own_secret
from kd_automl.workspace import Workspace

CHECK_STATUS = "api/v1/nni/check-status"  # the manager's REST path of its state


def find_by_port(ws: Workspace, port: int | None, since: float) -> str | None:
    """The id of the experiment ``nni start`` started on ``port`` at or after ``since`` (a
    timestamp), from the secrets it keeps; None while there is none yet."""
    folder = nni_home(ws) / "secrets"
    if port is None or not folder.is_dir():
        return None
    for secret in folder.iterdir():
        if secret.stat().st_mtime >= since and load_secret(ws, secret.name).get("port") == port:
            return secret.name
    return None


def registry(ws: Workspace) -> dict[str, dict]:
    """NNI's registry of the workspace's experiments (``{}`` when it has none)."""
    try:
        return json.loads((nni_home(ws) / "nni-experiments" / ".experiment").read_text())
    except (OSError, ValueError):
        return {}


def manager_pid(ws: Workspace, exp_id: str) -> int | None:
    """The pid NNI's registry gives the experiment's manager, if any."""
    return registry(ws).get(exp_id, {}).get("pid")


def web_ui(ws: Workspace, exp_id: str | None) -> str | None:
    """The experiment's web UI, secret prefix included (this user's launches only)."""
    if not exp_id:
        return None
    secret = own_secret(ws, exp_id)
    if not secret.get("prefix"):
        return None
    host = secret.get("host") or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{host}:{secret['port']}/{secret['prefix']}/"


def manager_state(ws: Workspace, exp_id: str | None) -> str | None:
    """The state the experiment's manager reports (RUNNING, DONE, STOPPED, ERROR, ...), or
    None when it does not answer."""
    url = web_ui(ws, exp_id)
    if url is None:
        return None
    try:
        with urllib.request.urlopen(url + CHECK_STATUS, timeout=2) as r:
            return json.loads(r.read()).get("status")
    except (OSError, ValueError):
        return None


__all__ = ["find_by_port", "manager_pid", "manager_state", "registry", "web_ui"]
