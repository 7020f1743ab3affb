"""Watching a running NNI experiment: its status, trial counts, best stored objective."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

FINAL_STATES = ("DONE", "STOPPED", "ERROR")
ENDED_JOB_STATES = ("SUCCEEDED", "FAILED", "EARLY_STOPPED", "USER_CANCELED", "SYS_CANCELED")


@dataclass
class Progress:
    status: str
    counts: dict[str, int]
    best: float | None
    errors: list[str] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)  # NNI trial job id -> its status
    trials: dict[str, object] = field(default_factory=dict)  # job id -> its stored trial

    def ended(self) -> list[str]:
        """The trial jobs that have ended, in NNI's order."""
        return [j for j, s in self.jobs.items() if s in ENDED_JOB_STATES]


def poll(exp, store, store_name: str, maximize: bool) -> Progress:
    """Status of the experiment, trial counts by NNI state, best stored objective."""
    status = exp.get_status()
    counts: dict[str, int] = {}
    jobs: dict[str, str] = {}
    for job in exp.list_trial_jobs():
        counts[job.status] = counts.get(job.status, 0) + 1
        jobs[str(job.trialJobId)] = job.status
    best = None
    exps = store.experiments([store_name])
    trials = {}
    if exps:
        trials = {t.backend_trial_id: t for t in store.trials([exps[0].id], role="search")}
        vals = [t.objective for t in trials.values()
                if t.state == "complete" and t.objective is not None]
        if vals:
            best = max(vals) if maximize else min(vals)
    errors = []
    if status == "ERROR":
        try:
            from nni.experiment import rest

            errors = rest.get(exp.port, "/check-status", exp.url_prefix).get("errors", [])
        except Exception:
            pass
    return Progress(status, counts, best, errors, jobs, trials)


def wait(exp, store, store_name: str, maximize: bool, on_progress: Callable[[Progress], None],
         interval: float = 1.0) -> Progress:
    """Poll until the experiment is DONE, STOPPED or ERROR."""
    while True:
        progress = poll(exp, store, store_name, maximize)
        on_progress(progress)
        if progress.status in FINAL_STATES:
            return progress
        time.sleep(interval)

