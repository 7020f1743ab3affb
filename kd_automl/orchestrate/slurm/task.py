"""What one Slurm array task runs: the ``kd-automl optuna worker`` join path on the study.

submitit pickles :func:`run_task` by reference and runs it in the task (``srun python -m
submitit.core._submit``), so the task's Python must import this package: the same
environment on every node (a shared file system, or the same install everywhere).

Signals (handled from the task's first line, before torch is imported):

- the time limit: the jobs ask for ``--signal=USR1@120``, a signal nothing else sends. The
  worker stores its running trial as interrupted (with its checkpoint), enqueues its retry,
  and, while the study still needs trials, requeues its own task (``scontrol requeue``, as
  submitit does on its own signal); the requeued task continues the trial.
- ``scancel``, a preemption, the launcher's Ctrl-C: TERM. The same stop, without a requeue
  (a user's scancel must end the task; Slurm requeues a preempted task itself, with
  ``--requeue``); the tasks still running continue the trial.
- A task killed without a signal (node lost, SIGKILL) stops beating: its trial is failed
  "worker lost" and retried once by the heartbeat.

A stop before the first trial's row (while torch loads, or the study is opened) stores
nothing: the task just ends.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

TASK_ENV = "SLURM_ARRAY_TASK_ID"
RESTART_ENV = "SLURM_RESTART_COUNT"
TIME_LIMIT_SIGNAL = signal.SIGUSR1  # options.SlurmOptions.sbatch_flags asks for it


def _say(line: str) -> None:
    print(f"[task {os.environ.get(TASK_ENV, '?')}] {line}", file=sys.stderr, flush=True)


def slurm_task_id() -> str | None:
    """``<array job>_<task>`` (a plain job: its id) of the task this runs in."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get(TASK_ENV)
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def _on_time_limit(near: list[bool]):
    """The time-limit signal: noted, then the stop every worker knows (TERM to itself, so a
    trial's row being written holds it as any stop signal)."""
    def handler(signum, frame) -> None:
        if not near:
            near.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
    return handler


def run_task(spec_data: dict, study_name: str, db: str, storage: str | None, workspace: str,
             threads: int, baseline: bool, wait_s: float = 120.0) -> dict[str, Any]:
    """Join the study; returns this task's summary (a stop is a summary too, not an error,
    so submitit records it and a requeue starts the task afresh)."""
    from kd_automl.orchestrate import signals

    near_limit: list[bool] = []
    previous = signal.signal(TIME_LIMIT_SIGNAL, _on_time_limit(near_limit))
    task = int(os.environ.get(TASK_ENV) or 0)
    restarts = int(os.environ.get(RESTART_ENV) or 0)
    try:
        with signals.handled():
            _say(f"joining study {study_name} (restart {restarts}) on "
                 f"{os.uname().nodename}, pid {os.getpid()}")
            summary = _work(spec_data, study_name, db, storage, workspace, threads,
                            baseline and task == 0, wait_s)
    except KeyboardInterrupt as err:
        why = "the time limit" if near_limit else str(err)
        _say(f"stopped by {why}: a running trial (if any) is stored as interrupted and "
             "retried from its checkpoint")
        requeued = bool(near_limit) and _requeue(study_name, storage or db)
        return {"task": task, "restarts": restarts, "stopped": why, "requeued": requeued}
    finally:
        signal.signal(TIME_LIMIT_SIGNAL, previous)
    _say(f"done: {summary.trials_run} trial(s) run here; the study has {summary.finished} of "
         f"{summary.target}")
    return {"task": task, "restarts": restarts, "trials_run": summary.trials_run,
            "finished": summary.finished, "target": summary.target}


def _work(spec_data: dict, study_name: str, db: str, storage: str | None, workspace: str,
          threads: int, baseline: bool, wait_s: float):
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    handler = logging.StreamHandler(sys.stderr)  # kd_automl's warnings, in the task's log
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.getLogger("kd_automl").addHandler(handler)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from kd_automl.orchestrate.join import join_study
    from kd_automl.orchestrate.recording import run_study_baseline
    from kd_automl.spec import parse_spec

    spec = parse_spec(spec_data)
    if baseline:  # the student alone, once per experiment (task 0)
        result = run_study_baseline(spec, study_name, db, workspace)
        if result is not None:
            _say(f"student alone: {result.status}")

    def line(event) -> None:
        r = event.result
        acc = f" val {100 * r.student_val_acc:.2f}%" if r.student_val_acc is not None else ""
        _say(f"trial {event.number}: {r.status}{acc}")

    return join_study(spec, study_name, db=db, storage=storage, workspace=workspace,
                      threads=threads, wait_s=wait_s, on_trial=line, retry_on_stop=True)


def _requeue(study_name: str, storage_url: str) -> bool:
    """Requeue this task when the study still needs trials (said either way)."""
    from kd_automl.orchestrate.slurm import scheduler

    try:
        needed = _study_needs_trials(study_name, storage_url)
    except Exception as err:  # the store unreachable: requeued, the next start will see
        _say(f"cannot read study {study_name} ({type(err).__name__}: {err}); requeued anyway")
        needed = True
    task = slurm_task_id()
    if not needed or task is None:
        _say("not requeued: " + ("the study has its trials" if not needed else
                                 "not in a Slurm job"))
        return False
    try:
        scheduler.requeue(task)
    except Exception as err:  # e.g. Slurm requeues it already (a preemption)
        _say(f"not requeued: {err}")
        return False
    _say(f"requeued task {task}: it continues the study when Slurm starts it again")
    return True


def _study_needs_trials(study_name: str, storage_url: str) -> bool:
    import optuna

    from kd_automl.orchestrate import join  # the names a joining worker reads the target by

    study = optuna.load_study(study_name=study_name, storage=join.open_storage(storage_url))
    target = study.user_attrs.get(join.TARGET_ATTR)
    return target is not None and join.finished_count(study) < int(target)
