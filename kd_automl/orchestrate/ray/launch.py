"""``kd-automl optuna SPEC --ray ADDRESS``: the study's workers as Ray actors.

This process (the driver) trains nothing: it prepares the study as ``run_study`` does
(:func:`~kd_automl.orchestrate.optuna.prepare.prepare_study`: reaps trials left running,
enqueues the interrupted ones, sets the trial target the workers work towards), starts K
worker actors that Ray places on the cluster's nodes, then follows the study's progress in
the store until it holds its trials, and ends the actors. Ctrl-C (or SIGTERM/SIGHUP) raises
the stop flag: every actor stores its running trial as interrupted and ends; actors still
waiting for room are killed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate import signals
from kd_automl.orchestrate.continue_interrupted import continue_interrupted
from kd_automl.orchestrate.optuna.prepare import prepare_study
from kd_automl.orchestrate.optuna.study import work_queue
from kd_automl.orchestrate.ray import connect
from kd_automl.orchestrate.ray.options import RayOptions
from kd_automl.orchestrate.recording import check_before_search
from kd_automl.orchestrate.work_queue import counts, finished_count
from kd_automl.spec import ExperimentSpec, load_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

POLL_S = 1.0
END_WAIT_S = 30.0  # after the study has its trials, how long the actors get to return
STOP_WAIT_S = 60.0  # after the stop flag, how long the actors get to store their trials


@dataclass
class RayRun:
    study_name: str
    db: str
    target: int
    before: int  # finished trials when the actors started
    experiment_id: int
    actors: list[str]  # their names in Ray (namespace kd-automl)
    trials_run: int = 0
    workers: list[dict[str, Any]] = field(default_factory=list)  # each actor's summary
    lost: list[str] = field(default_factory=list)  # actors Ray could not keep
    continued: list[str] = field(default_factory=list)


def absolute_sqlite(url: str) -> str:
    """A SQLite URL with an absolute path: the actors do not run in this directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") \
            and url[len(prefix):] not in ("", ":memory:"):
        return prefix + str(Path(url[len(prefix):]).resolve())
    return url


def launch(spec: ExperimentSpec | str | Path, n_trials: int, options: RayOptions, *,
           workspace: str | Path | None = None, db: str | None = None,
           storage: str | None = None, study_name: str | None = None, fresh: bool = False,
           threads: int | None = None, baseline: bool = True,
           on_trial: Callable | None = None, on_start: Callable[[RayRun], None] | None = None
           ) -> RayRun:
    """Check, start the actors and follow the study until it holds its trials."""
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    if n_trials < 0:
        raise KDAutoMLError("--trials must be >= 0")
    options.check()
    check_before_search(spec)
    ws = Workspace.resolve(workspace)
    db_url = absolute_sqlite(db or ws.db_url)
    storage = absolute_sqlite(storage) if storage else None
    connect.connect(options.address)
    import ray

    try:
        connect.check_request(options.workers, options.cpus_per_worker,
                              options.gpus_per_worker)
        connect.check_store(db_url)
        store = Store(db_url)
        try:
            ready = prepare_study(spec, n_trials, store, ws, storage_url=storage or db_url,
                                  study_name=study_name, fresh=fresh)
            study, study_name, target = ready.study, ready.study_name, ready.target
            started = _start(spec, options, study_name, db_url, storage, ws,
                             options.threads(threads), baseline)
            run = RayRun(study_name, db_url, target, ready.before, ready.experiment_id,
                         [name for name, _, _ in started[1]], continued=ready.continued)
            if on_start:
                on_start(run)
            _follow(run, study, store, started, on_trial,
                    lambda: _retry_stopped(study, spec, store, ws, target))
            return run
        finally:
            store.dispose()
    finally:
        ray.shutdown()


def _start(spec: ExperimentSpec, options: RayOptions, study_name: str, db_url: str,
           storage: str | None, ws: Workspace, threads: int, baseline: bool):
    """The stop flag and K worker actors, each already asked to run; (flag, [(name, actor,
    its run's ref)])."""
    import os

    import ray

    from kd_automl.orchestrate.ray.actor import ENV_PASSED, RemoteWorker, StopFlag

    here = ray.get_runtime_context().get_node_id()
    near = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(here, soft=True)
    try:
        flag = StopFlag.options(name=f"{study_name}:stop", scheduling_strategy=near).remote()
    except ValueError as err:  # the name is taken: a launch of this study is running
        raise KDAutoMLError(f"a launch of study {study_name} is already running on this Ray "
                            f"cluster ({err}); stop it first, or join it with `kd-automl "
                            "optuna worker`") from None
    env = {k: os.environ[k] for k in ENV_PASSED if os.environ.get(k)}
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    actors = []
    for i in range(options.workers):
        name = f"{study_name}:worker-{i}"
        actor = RemoteWorker.options(name=name, **options.actor_options()).remote(i, env)
        ref = actor.run.remote(spec.to_dict(), study_name, db_url, storage, str(ws.root),
                               threads, baseline, flag)
        actors.append((name, actor, ref))
    return flag, actors


def _retry_stopped(study, spec: ExperimentSpec, store: Store, ws: Workspace,
                   target: int) -> None:
    """An actor stopped on its own (SIGTERM to its process, a node drained): its interrupted
    trial goes to the actors still running, from its checkpoint (under the queue's lock)."""
    with work_queue(study, ws, target).held():
        continue_interrupted(study, spec, store, ws, study.study_name)  # says each one


def _follow(run: RayRun, study, store: Store, started, on_trial: Callable | None,
            retry_stopped: Callable[[], None]) -> None:
    """Poll the study and the actors until it holds its trials or no actor is left;
    Ctrl-C raises the stop flag."""
    from kd_automl.orchestrate.workers import _StoreProgress

    flag, actors = started
    pending = {ref: name for name, _, ref in actors}
    progress = _StoreProgress(store, run.experiment_id, on_trial) if on_trial else None
    with signals.handled():
        try:
            done_at = None
            while True:
                if progress:
                    try:
                        progress.poll()
                    except Exception as err:  # a busy database: next time
                        log.debug("progress poll failed: %s", err)
                seen = len(run.workers)
                _collect(run, pending, POLL_S)
                if pending and any(w.get("stopped") for w in run.workers[seen:]):
                    retry_stopped()
                finished, _running = counts(study)
                if finished >= run.target:
                    done_at = done_at or time.monotonic()
                    if not pending or time.monotonic() - done_at > END_WAIT_S:
                        break
                elif not pending:
                    raise KDAutoMLError(
                        f"every worker actor has ended with study {run.study_name} at "
                        f"{finished} of {run.target} finished trials"
                        + (f": {'; '.join(run.lost)}" if run.lost else ""))
        except KeyboardInterrupt as err:
            flag.raise_.remote()
            deadline = time.monotonic() + STOP_WAIT_S
            while pending and time.monotonic() < deadline:
                _collect(run, pending, POLL_S)
            _end(actors, flag)
            stopped = sum(1 for w in run.workers if w.get("stopped"))
            err.kept = (  # type: ignore[attr-defined]
                f"stopped: {stopped} worker actor(s) stored their running trials as "
                f"interrupted, {len(actors)} ended on Ray; {finished_count(study)} of "
                f"{run.target} trials finished in study {run.study_name}")
            err.owed = max(0, run.target - finished_count(study))  # type: ignore[attr-defined]
            err.study_name = run.study_name  # type: ignore[attr-defined]
            err.interrupted = 0  # type: ignore[attr-defined]
            raise
        _end(actors, flag)
    if progress:
        progress.poll()
    run.trials_run = finished_count(study) - run.before


def _collect(run: RayRun, pending: dict, timeout: float) -> None:
    """Wait up to ``timeout`` for actors' runs to return; record each summary or loss."""
    import ray

    if not pending:
        time.sleep(timeout)
        return
    ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=timeout)
    for ref in ready:
        name = pending.pop(ref)
        try:
            summary = ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # the worker loop raised
            line = f"actor {name} failed: {' '.join(str(err.cause).split())[:300]}"
            run.lost.append(line)
            log.warning("%s", line)
            continue
        except ray.exceptions.RayError as err:  # lost more often than it may restart, or
            # never started (no room, a worker environment that does not start)
            said = (str(err).strip().splitlines() or [type(err).__name__])[0]
            line = f"actor {name} lost: {said}"
            run.lost.append(line)
            log.warning("%s; the other actors take over its trials", line)
            continue
        run.workers.append({"name": name, **summary})


def _end(actors, flag) -> None:
    """Kill what is left of the actors (the finished ones, and any still waiting for room),
    then the flag: nothing of this launch stays on the cluster."""
    import ray

    for _, actor, _ in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)
    with contextlib.suppress(Exception):
        ray.kill(flag, no_restart=True)
