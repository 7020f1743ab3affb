"""Where dataset files live: ``dataset.root``, ``$KD_AUTOML_DATA``, or ``<workspace>/data``."""

from __future__ import annotations

import os
from pathlib import Path

from kd_automl.workspace import ENV_VAR as WORKSPACE_ENV

DATA_ENV = "KD_AUTOML_DATA"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder (not created): ``root``, ``$KD_AUTOML_DATA``, or ``<workspace>/data``."""
    if root:
        return Path(root).expanduser().resolve()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser().resolve()
    return (Path(os.environ.get(WORKSPACE_ENV) or "runs").expanduser() / "data").resolve()
