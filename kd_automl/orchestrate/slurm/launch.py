"""``kd-automl optuna SPEC --slurm``: the study's workers as one Slurm job array.

This process trains nothing (it may be a login node): it prepares the study as ``run_study``
does (:func:`~kd_automl.orchestrate.optuna.prepare.prepare_study`: reaps trials left running,
enqueues the interrupted ones, sets the trial target that workers work towards), checks the
request with ``sbatch --test-only``, submits K tasks as one array through submitit
(``map_array``, ``array_parallelism`` K), then follows the study's progress in the store
until it holds its trials. Ctrl-C (or SIGTERM/SIGHUP) cancels the array; its running trials
are stored as interrupted by the tasks themselves. With ``detach`` it returns after the
submission, with the job id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate import signals
from kd_automl.orchestrate.optuna.prepare import prepare_study
from kd_automl.orchestrate.recording import check_before_search
from kd_automl.orchestrate.slurm import record, scheduler
from kd_automl.orchestrate.slurm.options import SlurmOptions, as_dict
from kd_automl.orchestrate.slurm.task import run_task
from kd_automl.orchestrate.work_queue import counts, finished_count
from kd_automl.spec import ExperimentSpec, load_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

POLL_S = 1.0
END_WAIT_S = 60.0  # after the study has its trials, how long the tasks get to leave


@dataclass
class SlurmRun:
    job_id: str
    study_name: str
    db: str
    target: int
    before: int  # finished trials when it was submitted
    experiment_id: int
    tasks: list[str]
    trials_run: int = 0
    lost_tasks: list[str] = field(default_factory=list)  # tasks that ended badly
    continued: list[str] = field(default_factory=list)


def launch(spec: ExperimentSpec | str | Path, n_trials: int, options: SlurmOptions, *,
           workspace: str | Path | None = None, db: str | None = None,
           storage: str | None = None, study_name: str | None = None, fresh: bool = False,
           threads: int | None = None, baseline: bool = True, detach: bool = False,
           on_trial: Callable | None = None, on_submit: Callable[[SlurmRun], None] | None = None
           ) -> SlurmRun:
    """Check, submit and (unless ``detach``) follow the study until it holds its trials."""
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    if n_trials < 0:
        raise KDAutoMLError("--trials must be >= 0")
    options.check()
    check_before_search(spec)
    ws = Workspace.resolve(workspace)
    db_url = db or ws.db_url
    scheduler.require_sbatch()
    scheduler.check_store(db_url, options)
    scheduler.test_submission(options)  # Slurm's own refusal, before anything is submitted
    store = Store(db_url)
    try:
        ready = prepare_study(spec, n_trials, store, ws, storage_url=storage or db_url,
                              study_name=study_name, fresh=fresh)
        study, study_name, target = ready.study, ready.study_name, ready.target
        run = _submit(spec, options, study_name, db_url, storage, ws, threads, baseline)
        run = SlurmRun(run[0], study_name, db_url, target, ready.before, ready.experiment_id,
                       run[1], continued=ready.continued)
        record.save(ws, run.job_id, {
            "job_id": run.job_id, "study": study_name, "db": db_url, "storage": storage,
            "target": target, "spec": spec.name, "workspace": str(ws.root),
            "submitted": datetime.now().isoformat(timespec="seconds"),
            "options": as_dict(options), "tasks": run.tasks})
        if on_submit:
            on_submit(run)
        if detach:
            return run
        _follow(run, study, store, on_trial)
        return run
    finally:
        store.dispose()


def _submit(spec: ExperimentSpec, options: SlurmOptions, study_name: str, db_url: str,
            storage: str | None, ws: Workspace, threads: int | None,
            baseline: bool) -> tuple[str, list[str]]:
    import submitit

    threads = threads or options.cpus_per_worker
    executor = submitit.SlurmExecutor(folder=record.jobs_dir(ws) / "%j")
    executor.update_parameters(
        job_name=f"kd-{study_name}"[:64], time=None, wckey=None, stderr_to_stdout=True,
        array_parallelism=options.workers, signal_delay_s=options.signal_s,
        setup=[f"export OMP_NUM_THREADS={threads}"],
        additional_parameters=options.sbatch_flags())  # --signal=USR1@120: the time limit
    n = options.workers
    try:
        jobs = executor.map_array(run_task, [spec.to_dict()] * n, [study_name] * n, [db_url] * n,
                                  [storage] * n, [str(ws.root)] * n, [threads] * n,
                                  [baseline] * n)
    except Exception as err:  # sbatch refused what --test-only accepted (limits changed)
        raise KDAutoMLError(f"sbatch refused the job array: {err}") from None
    if not jobs:
        raise KDAutoMLError("submitit submitted no job")
    tasks = [j.job_id for j in jobs]
    return tasks[0].split("_")[0], tasks


def _follow(run: SlurmRun, study, store: Store, on_trial: Callable | None) -> None:
    """Poll the study (and the queue) until it holds its trials or no task is left; Ctrl-C
    cancels the array."""
    from kd_automl.orchestrate.workers import _StoreProgress

    progress = _StoreProgress(store, run.experiment_id, on_trial) if on_trial else None
    checked: set[str] = set()
    try:
        with signals.handled():
            done_at = None
            while True:
                if progress:
                    try:
                        progress.poll()
                    except Exception as err:  # a busy database: next time
                        log.debug("progress poll failed: %s", err)
                finished, _running = counts(study)
                left = scheduler.queued(run.job_id)
                _note_ended(run, checked, left)
                if finished >= run.target:
                    done_at = done_at or time.monotonic()
                    if not left or time.monotonic() - done_at > END_WAIT_S:
                        break
                elif not left:
                    _note_ended(run, checked, left, final=True)
                    raise KDAutoMLError(
                        f"every task of job {run.job_id} has ended with study "
                        f"{run.study_name} at {finished} of {run.target} finished trials"
                        f"{': ' + '; '.join(run.lost_tasks) if run.lost_tasks else ''}; "
                        f"read them with `kd-automl cluster log {run.job_id}`")
                time.sleep(POLL_S)
    except KeyboardInterrupt as err:
        left = scheduler.cancel(run.job_id)
        err.kept = (  # type: ignore[attr-defined]
            f"stopped: job {run.job_id} cancelled (scancel); "
            + (f"{len(left)} task(s) still leaving the queue" if left else "no task is left")
            + f"; their running trials are stored as interrupted; {finished_count(study)} "
            f"of {run.target} trials finished in study {run.study_name}")
        err.owed = max(0, run.target - finished_count(study))  # type: ignore[attr-defined]
        err.study_name = run.study_name  # type: ignore[attr-defined]
        err.interrupted = 0  # type: ignore[attr-defined]
        raise
    if progress:
        progress.poll()
    run.trials_run = finished_count(study) - run.before
    _note_ended(run, checked, [], final=True)


def _note_ended(run: SlurmRun, checked: set[str], left: list[tuple[str, str]],
                final: bool = False) -> None:
    """Say once each task that left the queue other than COMPLETED (read from scontrol, as
    sacct may be missing); ``final``: every task not checked yet."""
    now = {task for task, _ in left}
    gone = [t for t in run.tasks if t not in checked and t not in now]
    if not gone:
        return
    try:
        shown = {scheduler.task_name(j): j for j in scheduler.show_job(run.job_id)}
    except KDAutoMLError:
        return
    for task in gone:
        job = shown.get(task)
        state = job.get("JobState") if job else None
        if state not in scheduler.ENDED:
            continue  # requeued, or between states: later
        checked.add(task)
        if state != "COMPLETED":
            line = f"task {task} ended {state} (exit {job.get('ExitCode')})"
            run.lost_tasks.append(line)
            log.warning("%s; the other tasks take over its trials", line)
