"""Worker processes of one study: each takes trials from the shared queue until it is done.

A worker that dies does not take the run down: the others run its share, its trial
is retried once it is stale (see ``heartbeat.py``), and the run reports it. A stop
signal stops every worker; a worker whose parent dies stops too.

On the CPU the main process is worker 0: it runs trials at once while the fork server
imports torch for the others (tens of seconds on a busy machine), and the others join
when it is ready. A short search is never slower with workers than without.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import optuna

from kd_automl.engine import TrialResult
from kd_automl.orchestrate import signals
from kd_automl.orchestrate.gpus import gpu_for_worker, visible_gpus
from kd_automl.orchestrate.heartbeat import LOST, heartbeat_for
from kd_automl.orchestrate.optuna.source import trial_loop
from kd_automl.orchestrate.optuna.study import load_study, work_queue
from kd_automl.orchestrate.runner import TrialEvent
from kd_automl.orchestrate.threads import set_trial_threads
from kd_automl.spec import ExperimentSpec, parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

STOP_WAIT_S = 60.0  # how long stopped workers get to close their trials


def _worker(spec_data: dict, study_name: str, storage_url: str, db_url: str, workspace: str,
            target: int, index: int, n_trials_at_start: int, workers: int, gpu: str | None,
            threads: int | None, main_pid: int) -> None:
    signals.install()
    signals.die_with_parent(main_pid)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        set_trial_threads(workers, threads)
        spec = parse_spec(spec_data)
        store = Store(db_url)
        ws = Workspace(Path(workspace))
        study = load_study(spec, study_name, storage_url, store_url=db_url, worker=index,
                           n_trials=n_trials_at_start)
        exp_id = store.experiment(spec, "optuna", name=study_name, study_name=study_name)
        trial_loop(study, spec, store, exp_id, ws, work_queue(study, ws, target),
                   heartbeat_for(study), None, spec.fuse)
    except KeyboardInterrupt as err:
        sys.exit(signals.exit_code(err))


# torch._dynamo: a trial's first FLOP count imports it (and sympy), about 7 s per process
PRELOAD = ["kd_automl.orchestrate.optuna.source", "kd_automl.orchestrate.optuna.study",
           "optuna.samplers", "torch._dynamo", "kd_automl.distill.all_methods",
           "kd_automl.models.all_models"]
PRELOAD_FOR = {"digits": ["sklearn.datasets"]}  # what the first trial would import
READY_ENV = "KD_AUTOML_FORK_READY"
_ready_file: list[Path] = []  # the file this process's fork server creates when ready


def _context(spec: ExperimentSpec):
    """A fork server that imported torch, the engine and the dataset's reader once:
    workers start in a fraction of a second instead of each importing everything
    (tens of seconds on a busy machine). Spawn where there is no fork server."""
    try:
        ctx = mp.get_context("forkserver")
    except ValueError:
        return mp.get_context("spawn")
    ctx.set_forkserver_preload(PRELOAD + PRELOAD_FOR.get(spec.dataset.name, [])
                               + ["kd_automl.orchestrate.fork_ready"])
    return ctx


def start_fork_server(spec: ExperimentSpec) -> None:
    """Start the fork server now, so its imports overlap the main process's own work."""
    if _context(spec).get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    server_pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if not _ready_file and server_pid is None:  # the server inherits the variable at start
        _ready_file.append(Path(tempfile.mkdtemp(prefix="kd-automl-fork-")) / "ready")
        os.environ[READY_ENV] = str(_ready_file[0])
    forkserver.ensure_running()


def fork_server_ready() -> bool:
    """Can workers start without waiting for the fork server's imports? (True when this
    process did not start it and cannot tell: starting then simply waits.)"""
    return not _ready_file or _ready_file[0].exists()


class _StoreProgress:
    """Turns finished trials into ``on_trial`` events once each: the main process's own
    (passed to :meth:`report`) and the workers' (read from the store by :meth:`poll`)."""

    def __init__(self, store: Store, experiment_id: int, on_trial):
        self.store, self.experiment_id, self.on_trial = store, experiment_id, on_trial
        self._lock = threading.Lock()
        self.seen = {t.backend_trial_id for t in self._rows() if t.state != "running"}

    def _rows(self):
        return self.store.trials([self.experiment_id], role="search")

    def report(self, event) -> None:
        with self._lock:
            if str(event.number) not in self.seen:  # unless the poll was first
                self.seen.add(str(event.number))
                self.on_trial(event)

    def poll(self) -> None:
        for t in self._rows():
            with self._lock:
                if t.state == "running" or t.backend_trial_id in self.seen:
                    continue
                self.seen.add(t.backend_trial_id)
                result = TrialResult(status=t.state, student_val_acc=t.student_val_acc,
                                     student_test_acc=t.student_test_acc, error=t.error,
                                     wall_time_s=t.wall_time_s or 0.0)
                role = "lost" if t.error in (LOST, "interrupted") else "search"
                self.on_trial(TrialEvent(t.backend_trial_id, role, t.params, result))


class _Launcher(threading.Thread):
    """Starts the worker processes once the fork server is ready, unless cancelled first
    (the main process finished the search alone)."""

    def __init__(self, procs: list[mp.process.BaseProcess]):
        super().__init__(name="kd-worker-launcher", daemon=True)
        self.procs, self.started = procs, []
        self._lock, self._cancelled = threading.Lock(), False

    def run(self) -> None:
        while not fork_server_ready():
            time.sleep(0.1)
            if self._cancelled:
                return
        with self._lock:
            for p in self.procs:
                if self._cancelled:
                    return
                p.start()
                self.started.append(p)

    def cancel(self) -> list[mp.process.BaseProcess]:
        """Start no more; returns the processes already started."""
        with self._lock:
            self._cancelled = True
            return list(self.started)


def describe_exit(p: mp.process.BaseProcess) -> str:
    code = p.exitcode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"{p.name} (pid {p.pid}) was killed by {signal.Signals(-code).name}"
    return f"{p.name} (pid {p.pid}) exited with code {code}"


def stop_workers(procs: list[mp.process.BaseProcess], wait_s: float = STOP_WAIT_S) -> None:
    """SIGTERM every live worker, give them ``wait_s`` to close their trials, then kill."""
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            log.error("%s did not stop in %.0f s; killing it", p.name, wait_s)
            p.kill()
            p.join(5)


def run_workers(spec: ExperimentSpec, study: optuna.Study, storage_url: str, db_url: str,
                ws: Workspace, target: int, workers: int, gpus: list[int] | None,
                threads: int | None, store: Store, experiment_id: int, on_trial,
                run_here: Callable[[Callable | None], None] | None = None) -> list[str]:
    """Run ``workers`` processes until the study holds ``target`` finished trials.

    ``run_here(on_trial)`` runs worker 0's trial loop in this process. On the CPU it is
    used: this process takes trials at once and the others join when the fork server is
    ready. With GPUs every worker is a process pinned to its GPU.
    Returns a description of each worker that died (empty when all ended well).
    """
    devices = visible_gpus(gpus)
    here = run_here is not None and not devices
    ctx = _context(spec)
    start_fork_server(spec)
    n_at_start = len(study.get_trials(deepcopy=False))
    procs = [ctx.Process(target=_worker, name=f"kd-worker-{i}",
                         args=(spec.to_dict(), study.study_name, storage_url, db_url,
                               str(ws.root), target, i, n_at_start, workers,
                               gpu_for_worker(i, devices), threads, os.getpid()))
             for i in range(1 if here else 0, workers)]
    progress = _StoreProgress(store, experiment_id, on_trial) if on_trial else None
    launcher = _Launcher(procs)
    stop_polling, lost = threading.Event(), {}
    poller = threading.Thread(target=_poll_until, args=(progress, stop_polling, launcher, lost),
                              name="kd-worker-progress", daemon=True)
    try:
        launcher.start()
        poller.start()
        if here:
            set_trial_threads(workers, threads)
            run_here(progress.report if progress else None)
        else:
            launcher.join()
        started = launcher.cancel()
        while any(p.is_alive() for p in started):
            time.sleep(0.2)
    except BaseException:
        stop_workers(launcher.cancel())
        raise
    finally:
        stop_polling.set()
        poller.join()
    if progress:
        progress.poll()
    _note_lost(started, lost)
    return list(lost.values())


def _note_lost(procs: list[mp.process.BaseProcess], lost: dict[int, str]) -> None:
    """Say once, as soon as it is seen, that a worker died."""
    for p in procs:
        if p.pid not in lost and p.exitcode not in (None, 0):
            lost[p.pid] = describe_exit(p)
            log.error("worker lost: %s; the other workers take over its trials", lost[p.pid])


def _poll_until(progress: _StoreProgress | None, stop: threading.Event,
                launcher: _Launcher, lost: dict[int, str]) -> None:
    """The workers' finished trials as they finish, and the workers that died."""
    while not stop.wait(0.5):
        started = list(launcher.started)
        _note_lost(started, lost)
        if progress and started:
            with contextlib.suppress(Exception):  # a busy database: next time
                progress.poll()
