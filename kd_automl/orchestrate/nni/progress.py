"""Watching a running NNI experiment: its status, trial counts, best stored objective."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

FINAL_STATES = ("DONE", "STOPPED", "ERROR")


@dataclass
class Progress:
    status: str
    counts: dict[str, int]
    best: float | None
    errors: list[str] = field(default_factory=list)


def poll(exp, store, store_name: str, maximize: bool) -> Progress:
    """Status of the experiment, trial counts by NNI state, best stored objective."""
    status = exp.get_status()
    counts: dict[str, int] = {}
    for job in exp.list_trial_jobs():
        counts[job.status] = counts.get(job.status, 0) + 1
    best = None
    exps = store.experiments([store_name])
    if exps:
        vals = [t.objective for t in store.trials([exps[0].id], states=["complete"],
                                                  role="search") if t.objective is not None]
        if vals:
            best = max(vals) if maximize else min(vals)
    errors = []
    if status == "ERROR":
        try:
            from nni.experiment import rest

            errors = rest.get(exp.port, "/check-status", exp.url_prefix).get("errors", [])
        except Exception:
            pass
    return Progress(status, counts, best, errors)


def wait(exp, store, store_name: str, maximize: bool, on_progress: Callable[[Progress], None],
         interval: float = 1.0) -> Progress:
    """Poll until the experiment is DONE, STOPPED or ERROR."""
    while True:
        progress = poll(exp, store, store_name, maximize)
        on_progress(progress)
        if progress.status in FINAL_STATES:
            return progress
        time.sleep(interval)

