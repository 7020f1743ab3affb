"""What one Slurm array task runs: the ``kd-automl optuna worker`` join path on the study.

submitit pickles :func:`run_task` by reference and runs it in the task (``srun python -m
submitit.core._submit``), so the task's Python must import this package: the same
environment on every node (a shared file system, or the same install everywhere).

Signals: Slurm's ``--signal=TERM@120`` (time limit), a preemption and ``scancel`` send TERM;
the worker stores its running trial as interrupted (with its checkpoint) and enqueues its
retry for the other tasks, then ends. A preempted task is requeued by Slurm
(``SLURM_RESTART_COUNT`` > 0) and, like every joining worker, first enqueues the interrupted
trials nobody retries yet. A task killed without a signal (node lost, SIGKILL) stops beating:
its trial is failed "worker lost" and retried once by the heartbeat.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

TASK_ENV = "SLURM_ARRAY_TASK_ID"
RESTART_ENV = "SLURM_RESTART_COUNT"


def _say(line: str) -> None:
    print(f"[task {os.environ.get(TASK_ENV, '?')}] {line}", file=sys.stderr, flush=True)


def run_task(spec_data: dict, study_name: str, db: str, storage: str | None, workspace: str,
             threads: int, baseline: bool, wait_s: float = 120.0) -> dict[str, Any]:
    """Join the study; returns this task's summary (a stop is a summary too, not an error,
    so submitit records it and a requeue starts the task afresh)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    handler = logging.StreamHandler(sys.stderr)  # kd_automl's warnings, in the task's log
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.getLogger("kd_automl").addHandler(handler)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from kd_automl.orchestrate import signals
    from kd_automl.orchestrate.join import join_study
    from kd_automl.spec import parse_spec

    task = int(os.environ.get(TASK_ENV) or 0)
    restarts = int(os.environ.get(RESTART_ENV) or 0)
    _say(f"joining study {study_name} (restart {restarts}) on {os.uname().nodename}, "
         f"pid {os.getpid()}")
    spec = parse_spec(spec_data)
    try:
        with signals.handled():
            if baseline and task == 0:  # the student alone, once per experiment
                _baseline(spec, study_name, db, workspace)

        def line(event) -> None:
            r = event.result
            acc = f" val {100 * r.student_val_acc:.2f}%" if r.student_val_acc is not None else ""
            _say(f"trial {event.number}: {r.status}{acc}")

        summary = join_study(spec, study_name, db=db, storage=storage, workspace=workspace,
                             threads=threads, wait_s=wait_s, on_trial=line, retry_on_stop=True)
    except KeyboardInterrupt as err:
        _say(f"stopped by {err}: its running trial is stored as interrupted and retried "
             "from its checkpoint")
        return {"task": task, "restarts": restarts, "stopped": str(err)}
    _say(f"done: {summary.trials_run} trial(s) run here; the study has {summary.finished} of "
         f"{summary.target}")
    return {"task": task, "restarts": restarts, "trials_run": summary.trials_run,
            "finished": summary.finished, "target": summary.target}


def _baseline(spec, study_name: str, db: str, workspace: str) -> None:
    from kd_automl.orchestrate.recording import run_baseline
    from kd_automl.store import Store
    from kd_automl.workspace import Workspace

    store = Store(db)
    try:
        exp_id = store.experiment(spec, "optuna", name=study_name, study_name=study_name)
        result = run_baseline(spec, store, exp_id, Workspace.resolve(workspace))
        if result is not None:
            _say(f"student alone: {result.status}")
    finally:
        store.dispose()
