"""Join a running Optuna study from another process or machine (``kd-automl optuna worker``).

The worker takes trials from the same work queue as the study's own processes (on
PostgreSQL an advisory lock shared by every machine), beats for its trials (a lost
worker's trial is failed and retried once) and stops on Ctrl-C, SIGTERM or SIGHUP
with its running trials stored as interrupted. It runs until the study holds the
number of finished trials its last ``kd-automl optuna`` run asked for.

Before its first trial it enqueues the study's interrupted trials that nobody retries yet
(:mod:`~kd_automl.orchestrate.continue_interrupted`, under the queue's lock, so two workers
starting at once enqueue each once): a requeued Slurm task first continues what a
preemption stopped. ``retry_on_stop`` (Slurm tasks) also enqueues this worker's own
interrupted trials as it stops, so the workers still running continue them from their
checkpoints at once.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import optuna

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate import signals
from kd_automl.orchestrate.continue_interrupted import continue_interrupted
from kd_automl.orchestrate.heartbeat import heartbeat_for, reap_stale
from kd_automl.orchestrate.optuna.source import trial_loop
from kd_automl.orchestrate.optuna.study import TARGET_ATTR, load_study, open_storage, work_queue
from kd_automl.orchestrate.threads import set_trial_threads
from kd_automl.orchestrate.work_queue import finished_count
from kd_automl.spec import ExperimentSpec, load_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace


@dataclass
class WorkerSummary:
    study_name: str
    trials_run: int  # trials this worker finished
    finished: int  # finished trials in the study now
    target: int


def worker_index() -> int:
    """A sampler-seed index for this host and process (distinct from local workers 0..N)."""
    return 1000 + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 1_000_000


def _wait_for_target(study_name: str, storage_url: str, wait_s: float) -> int:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            storage = open_storage(storage_url)  # a new database: the main run may be creating it
        except KDAutoMLError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
            continue
        try:
            study = optuna.load_study(study_name=study_name, storage=storage)
            target = study.user_attrs.get(TARGET_ATTR)
            missing = None if target is not None else (
                f"study {study_name!r} was not started by kd-automl optuna (it has no trial "
                "target to work towards)")
        except KeyError:
            missing = (f"no study {study_name!r} in this database; start it with "
                       f"`kd-automl optuna SPEC --study {study_name} --db ...`")
        past = time.monotonic() >= deadline
        if missing is None and (past or finished_count(study) < int(target)):
            return int(target)  # work to do (or waited long enough: nothing is left)
        if past:
            raise KDAutoMLError(missing)
        time.sleep(1.0)


def join_study(spec: ExperimentSpec | str | Path, study_name: str, *, db: str,
               storage: str | None = None, workspace: str | Path | None = None,
               threads: int | None = None, index: int | None = None, wait_s: float = 0,
               on_trial=None, retry_on_stop: bool = False) -> WorkerSummary:
    """Run trials of the existing study ``study_name`` (in ``storage``, default ``db``)
    until it holds the finished trials its run asked for; ``wait_s``: how long to wait
    for the study to be started (workers may start before the main run)."""
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    storage_url = storage or db
    target = _wait_for_target(study_name, storage_url, wait_s)
    ws = Workspace.resolve(workspace)
    store = Store(db)
    ran = [0]

    def count(event) -> None:
        ran[0] += 1
        if on_trial:
            on_trial(event)

    try:
        with signals.handled():
            study = load_study(spec, study_name, storage_url, store_url=db,
                               worker=worker_index() if index is None else index)
            exp_id = store.experiment(spec, "optuna", name=study_name, study_name=study_name)
            reap_stale(study)
            queue = work_queue(study, ws, int(target))
            with queue.held():
                continue_interrupted(study, spec, store, ws, study_name)
            set_trial_threads(1, threads)
            try:
                trial_loop(study, spec, store, exp_id, ws, queue, heartbeat_for(study), count,
                           spec.fuse)
            except KeyboardInterrupt:
                if retry_on_stop:  # this worker's interrupted trials: for the others now
                    with contextlib.suppress(Exception), queue.held():
                        continue_interrupted(study, spec, store, ws, study_name)
                raise
            return WorkerSummary(study_name, ran[0], finished_count(study), int(target))
    finally:
        store.dispose()
