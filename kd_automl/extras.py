"""Optional extras: whether one is installed, and the one line that says how to install it.

NNI 3.0 is the ``nni`` extra (``pip install "kd-automl[nni]"``; ``uv sync`` in a checkout
installs it). Only ``kd-automl nni ...``, ``kd-automl reskd --backend nni`` and the dashboard's
NNI launches need it; they ask :func:`require_nni` first, which looks NNI up without
importing it, so every other command runs, and starts, the same without it.

>>> nni_installed() in (True, False)
True
"""

from __future__ import annotations

import importlib.util

from kd_automl.errors import KDAutoMLError

NNI_MISSING = 'NNI is not installed: pip install "kd-automl[nni]" (or `uv sync` in a checkout)'


def nni_installed() -> bool:
    """Whether ``import nni`` can find NNI (nothing is imported)."""
    try:
        return importlib.util.find_spec("nni") is not None
    except (ImportError, ValueError):  # sys.modules["nni"] set to None, or a broken entry
        return False


def require_nni() -> None:
    """Raise :class:`KDAutoMLError` with :data:`NNI_MISSING` when NNI is not installed."""
    if not nni_installed():
        raise KDAutoMLError(NNI_MISSING)
