"""Launching searches in the background (what the dashboard's launch page calls): start a
``kd-automl optuna`` or ``kd-automl nni start --detach`` command from a checked request,
list launches with their state and progress from the store, stop one as Ctrl-C would.

:mod:`.request` (what to launch, checked), :mod:`.state` (a launch's folder in the
workspace), :mod:`.control` (start, status, stop), :mod:`.entry` (the launch's process),
:mod:`.progress` (counts, best, elapsed, ETA from the store).

>>> rec = start(ws, ws.db_url, LaunchRequest("optuna", spec_text, trials=4))  # doctest: +SKIP
>>> progress(store, status(ws, rec.id)).done                                 # doctest: +SKIP
"""

from kd_automl.orchestrate.launches.control import (
    LaunchStatus,
    nni_web_ui,
    start,
    status,
    statuses,
    stop,
    wait,
)
from kd_automl.orchestrate.launches.progress import RunProgress, progress
from kd_automl.orchestrate.launches.request import BACKENDS, LaunchRequest
from kd_automl.orchestrate.launches.state import LaunchRecord

__all__ = ["BACKENDS", "LaunchRecord", "LaunchRequest", "LaunchStatus", "RunProgress",
           "nni_web_ui", "progress", "start", "status", "statuses", "stop", "wait"]
