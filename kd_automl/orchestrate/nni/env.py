"""NNI's environment in the workspace, and the secrets of its guarded web UI.

NNI keeps its experiment registry under ``$HOME/nni-experiments``; kd-automl points ``HOME``
for NNI at ``<workspace>/nni`` so everything NNI writes lives in the workspace. The web UI's
Node.js manager is preloaded with ``guard.js``, which binds it to 127.0.0.1 (``host`` to
change) and answers a bare 404 outside an unguessable URL prefix, kept off every command
line and out of every file other users can read (:mod:`.private`).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.extras import require_nni
from kd_automl.orchestrate.nni.private import make_private
from kd_automl.workspace import Workspace

GUARD_JS = Path(__file__).with_name("guard.js")


def nni_home(ws: Workspace) -> Path:
    return ws.folder("nni")


def prepare_env(ws: Workspace, host: str = "127.0.0.1", prefix: str = "") -> None:
    """Point NNI at the workspace and preload the guard; must run before NNI is imported."""
    home = nni_home(ws)
    make_private(home)  # it holds the prefix (registry, logs): this user's alone
    os.environ["HOME"] = str(home)
    os.environ["NNI_CONFIG_DIR"] = str(home / "config")
    os.environ["KD_AUTOML_NNI_HOST"] = host
    os.environ["KD_AUTOML_NNI_PREFIX"] = prefix
    opts = [o for o in os.environ.get("NODE_OPTIONS", "").split() if str(GUARD_JS) not in o]
    os.environ["NODE_OPTIONS"] = " ".join([*opts, f"--require={GUARD_JS}"])
    if "nni.tools.nnictl.constants" in sys.modules:
        registry = Path(sys.modules["nni.tools.nnictl.constants"].NNI_HOME_DIR)
        if registry.parent != home:
            raise KDAutoMLError("NNI was already used with another workspace in this process; "
                                "run one workspace per kd-automl command")


def import_nni():
    """NNI's ``Experiment`` and ``RunMode``; one :class:`KDAutoMLError` saying how to install
    NNI when it is missing (the ``nni`` extra), or what broke when it does not import."""
    require_nni()
    try:
        import nni
        from nni.experiment import Experiment, RunMode
    except Exception as err:  # a broken install
        raise KDAutoMLError(f"NNI is not usable ({type(err).__name__}: {err}); reinstall it: "
                            'pip install "kd-automl[nni]" (or `uv sync` in a checkout)') from None
    import logging

    nni.silence_stdout()  # NNI's lines reach this process's own handlers alone, each once
    # NNI logs every step and a list of "web portal URLs" on all interfaces, which the guard
    # makes wrong; kd-automl prints the one URL that works
    if not logging.getLogger().isEnabledFor(logging.INFO):
        for name in ("nni", "nni.experiment", "nni.runtime"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return Experiment, RunMode


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host if host not in ("", "0.0.0.0") else "0.0.0.0", port))
        except OSError:
            raise KDAutoMLError(f"port {port} is in use; pass --port with a free one") from None


def secret_file(ws: Workspace, exp_id: str) -> Path:
    return nni_home(ws) / "secrets" / exp_id


def save_secret(ws: Workspace, exp_id: str, info: dict[str, Any]) -> None:
    path = secret_file(ws, exp_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)


def own_secret(ws: Workspace, exp_id: str) -> dict[str, Any]:
    """The experiment's secrets when this user owns their file ({} otherwise, root included:
    a prefix is shown only to the user who launched the experiment)."""
    try:
        if secret_file(ws, exp_id).stat().st_uid != os.geteuid():
            return {}
    except OSError:
        return {}
    return load_secret(ws, exp_id)


def load_secret(ws: Workspace, exp_id: str) -> dict[str, Any]:
    try:
        return json.loads(secret_file(ws, exp_id).read_text())
    except (OSError, ValueError):
        return {}

