"""Optuna backend: ask/tell over the engine, every trial recorded in the store
(:mod:`kd_automl.orchestrate.recording`).

>>> from kd_automl.optuna import run_study
>>> summary = run_study("search_spaces/digits_kd.yaml", n_trials=4)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import signal
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from pydantic import ValidationError

from kd_automl.engine import TrialResult
from kd_automl.errors import KDAutoMLError, TrialPruned
from kd_automl.orchestrate import signals
from kd_automl.orchestrate.heartbeat import (
    Heartbeat,
    heartbeat_for,
    heartbeat_kwargs,
    interval_s,
    reap_stale,
)
from kd_automl.orchestrate.lean_optuna import should_prune, tell
from kd_automl.orchestrate.recording import (
    TrialCallback,
    TrialEvent,
    check_before_search,
    finish,
    run_baseline,
    run_sampled,
)
from kd_automl.orchestrate.threads import set_trial_threads
from kd_automl.orchestrate.work_queue import WorkQueue, finished_count
from kd_automl.search import suggest_params
from kd_automl.search.strategy import build_pruner, build_sampler, notes
from kd_automl.spec import ExperimentSpec, load_spec
from kd_automl.store import Store
from kd_automl.store.db import schema_lock
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

TARGET_ATTR = "kd_automl_target"  # finished trials the running study is asked for


@dataclass
class StudySummary:
    experiment: str
    study_name: str
    storage: str
    db: str
    trials_run: int
    best_value: float | None
    best_params: dict[str, Any] | None
    lost_workers: list[str] = field(default_factory=list)  # workers that died mid-run
    pareto_size: int | None = None  # multi-objective: trials on the Pareto front
    warm_started: list[str] = field(default_factory=list)  # one line per point enqueued


class OptunaReporter:
    """Reports each epoch's objective to an Optuna trial; prunes when the pruner says so.
    ``metric=None`` (a multi-objective study, which Optuna cannot prune) reports nothing."""

    def __init__(self, trial: optuna.Trial, metric: str | None):
        self.trial, self.metric = trial, metric

    @classmethod
    def for_spec(cls, trial: optuna.Trial, spec: ExperimentSpec) -> OptunaReporter:
        return cls(trial, None if spec.multi_objective else spec.objective.metric)

    def report_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.metric is not None and self.metric in metrics:
            self.trial.report(metrics[self.metric], epoch)
            if _may_prune(self.trial.study.pruner, epoch) and should_prune(self.trial):
                raise TrialPruned(f"pruned at epoch {epoch}")

    def report_final(self, result: TrialResult) -> None:
        pass


def _may_prune(pruner: optuna.pruners.BasePruner, epoch: int) -> bool:
    """False where ``should_prune`` is known to say no (it reads every trial: a storage
    round-trip per epoch saved): no pruner, or a median/percentile pruner's warm-up."""
    if isinstance(pruner, optuna.pruners.NopPruner):
        return False
    if isinstance(pruner, optuna.pruners.PercentilePruner):
        return epoch >= getattr(pruner, "_n_warmup_steps", 0)
    return True


def _pruner(spec: ExperimentSpec) -> optuna.pruners.BasePruner:
    return build_pruner(spec)


def _storage(url: str, store_url: str | None = None) -> optuna.storages.RDBStorage:
    """Optuna's storage at ``url``; with ``store_url``, heartbeats on (a lost trial is
    failed in that store too, and retried once)."""
    kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
    beat = heartbeat_kwargs(store_url) if store_url else {}
    try:
        with schema_lock(url), warnings.catch_warnings():  # a fresh file: one creates
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **beat)
    except Exception as err:
        raise KDAutoMLError(f"cannot open Optuna storage {url}: {str(err).splitlines()[0]}") \
            from None


def _with_defaults(data: dict) -> dict:
    """A stored spec with the fields added since it was stored filled in by their defaults."""
    try:
        return ExperimentSpec.model_validate(data).to_dict()
    except ValidationError:  # an older spec that no longer validates is simply different
        return data


def sampler_seed(spec_seed: int, worker: int, n_trials: int) -> int:
    """The sampler's seed for one worker of one run: the spec's seed, the worker's index and
    how many trials the study held when the run began, mixed (a rerun reproduces; two
    workers or two runs never share a stream)."""
    import numpy as np

    return int(np.random.SeedSequence([spec_seed, worker, n_trials]).generate_state(1)[0])


def _sampler(seed: int, spec: ExperimentSpec) -> optuna.samplers.BaseSampler:
    """The spec's sampler (default TPE with constant_liar: running trials count as bad
    points, so parallel workers spread out), seeded."""
    return build_sampler(spec, seed)


def _identity(spec_data: dict) -> dict:
    """What must match to resume a study: the spec without how it is run (``fuse``)."""
    return {k: v for k, v in spec_data.items() if k != "fuse"}


def _load_study(spec: ExperimentSpec, study_name: str, storage_url: str, *,
                store_url: str | None = None, worker: int = 0,
                n_trials: int | None = None) -> optuna.Study:
    """Create or load the study; its sampler is seeded per worker and per run (``n_trials``:
    the study's trial count when the run began, default: now)."""
    study = optuna.create_study(study_name=study_name, storage=_storage(storage_url, store_url),
                                pruner=_pruner(spec),
                                directions=[g.direction for g in spec.goals],
                                load_if_exists=True)
    if n_trials is None:
        n_trials = len(study.get_trials(deepcopy=False))
    study.sampler = _sampler(sampler_seed(spec.seed, worker, n_trials), spec)
    old = study.user_attrs.get("kd_automl_spec")
    if old is None:
        study.set_user_attr("kd_automl_spec", spec.to_dict())
    elif _identity(_with_defaults(old)) != _identity(spec.to_dict()):
        raise KDAutoMLError(
            f"study {study_name!r} already exists with a different spec; resume it with the "
            "same spec, or start a new one with --fresh (or --study NAME)")
    _name_metrics(study, spec)
    return study


def _name_metrics(study: optuna.Study, spec: ExperimentSpec) -> None:
    """Name the study's objectives after the spec's metrics (optuna-dashboard shows
    ``val_acc``, not "Objective 0"); a study resumed from before keeps them once set."""
    names = [g.metric for g in spec.goals]
    if study.metric_names != names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


@dataclass
class AskedTrial:
    """An Optuna trial that was asked, with its parameters and its row in the store."""

    trial: optuna.Trial
    params: dict[str, Any]
    store_id: int | None = None
    heartbeat: Heartbeat | None = None


def begin_trial(study: optuna.Study, spec: ExperimentSpec, store: Store,
                experiment_id: int, *, queue: WorkQueue | None = None,
                heartbeat: Heartbeat | None = None) -> AskedTrial:
    """Ask the study for a trial and open its row in the store (stop signals held during ask).

    ``queue``: the work queue whose ``claim()`` granted this trial (released once the
    trial exists). ``heartbeat``: beats for the trial until it ends (default: this
    process's heartbeat for the study's storage, when heartbeats are on).
    """
    beat = heartbeat or heartbeat_for(study)
    try:
        with signals.deferred() as interrupted:
            with warnings.catch_warnings():  # we beat ourselves (see heartbeat.py)
                warnings.filterwarnings("ignore", "Heartbeat of storage")
                trial = study.ask()
            if beat is not None:
                beat.add(trial)
    finally:
        if queue is not None:
            queue.asked()
    asked = AskedTrial(trial, {}, heartbeat=beat)
    try:
        signals.raise_held(interrupted)
        asked.params = suggest_params(trial, spec.search)
        asked.store_id = store.start_trial(experiment_id, trial.number, asked.params)
        trial.set_user_attr("kd_trial_id", asked.store_id)
    except BaseException:
        abandon_trial(study, store, asked, told=False)
        raise
    return asked


def end_trial(study: optuna.Study, spec: ExperimentSpec, store: Store, asked: AskedTrial,
              result: TrialResult) -> None:
    """Store ``result`` and tell the study, as one step a Ctrl-C cannot cut in half."""
    finished = told = False
    try:
        with signals.deferred() as interrupted:
            finish(store, asked.store_id, result)
            finished = True
            trial = asked.trial
            if result.status == "complete":
                trial.set_user_attr("student_test_acc", result.student_test_acc)
                values = [result.objective(g.metric) for g in spec.goals]
                tell(study, trial, values if spec.multi_objective else values[0])
            else:
                if result.status == "failed":  # failed on its own: counts as finished
                    trial.set_user_attr("fail_reason", (result.error or "failed")[:2000])
                tell(study, trial, state=TrialState.PRUNED if result.status == "pruned"
                           else TrialState.FAIL)
            told = True
            if asked.heartbeat is not None:
                asked.heartbeat.remove(trial)
        signals.raise_held(interrupted)
    except BaseException:
        if not (finished and told):
            abandon_trial(study, store, asked, told=told, finished=finished)
        raise


def abandon_trial(study: optuna.Study, store: Store, asked: AskedTrial, *, told: bool = False,
                  finished: bool = False, reason: str = "interrupted") -> None:
    """Close a trial that cannot finish: FAILED with ``reason`` in both stores, never raising.

    It does not count as finished (no ``fail_reason``); ``abandoned`` holds the reason.
    """
    with contextlib.suppress(Exception):
        if asked.store_id is not None and not finished:
            store.mark_failed(asked.store_id, reason)
    with contextlib.suppress(Exception):
        if not told:
            asked.trial.set_user_attr("abandoned", reason)
    with contextlib.suppress(Exception):
        if not told:
            study.tell(asked.trial, state=TrialState.FAIL)
    if asked.heartbeat is not None:
        asked.heartbeat.remove(asked.trial)


def _one_trial(study: optuna.Study, spec: ExperimentSpec, store: Store, experiment_id: int,
               workspace: Workspace, on_trial: TrialCallback | None, *,
               queue: WorkQueue | None = None, heartbeat: Heartbeat | None = None) -> None:
    asked = begin_trial(study, spec, store, experiment_id, queue=queue, heartbeat=heartbeat)
    try:
        result = run_sampled(spec, asked.params, workspace,
                             OptunaReporter.for_spec(asked.trial, spec),
                             source=f"trial {asked.trial.number}")
    except BaseException:
        # Ctrl-C (or a store error) while the trial runs: nothing is left "running"
        abandon_trial(study, store, asked)
        raise
    end_trial(study, spec, store, asked, result)
    if on_trial:
        on_trial(TrialEvent(asked.trial.number, "search", asked.params, result))


def _trial_loop(study: optuna.Study, spec: ExperimentSpec, store: Store, experiment_id: int,
                workspace: Workspace, queue: WorkQueue, heartbeat: Heartbeat | None,
                on_trial: TrialCallback | None, fuse: int = 1) -> None:
    """One process's loop: run trials while the queue grants them, ``fuse`` at a time in one
    fused group when the spec allows it (else one by one, saying why)."""
    if fuse > 1:
        from kd_automl.orchestrate.fused_search import NotFusable, fuse_blocker, run_fused

        reason = fuse_blocker(spec)
        if reason is None:
            try:
                run_fused(study, spec, store, experiment_id, workspace, fuse,
                          lambda wait: queue.claim(wait=wait), on_trial, queue=queue,
                          heartbeat=heartbeat)
                return
            except NotFusable as err:
                reason = str(err)
        log.warning("fuse %d: running trials one at a time: %s", fuse, reason)
    while queue.claim():
        _one_trial(study, spec, store, experiment_id, workspace, on_trial, queue=queue,
                   heartbeat=heartbeat)


def work_queue(study: optuna.Study, ws: Workspace, target: int) -> WorkQueue:
    """The queue every process of one study shares: a lock file in the workspace, or on
    PostgreSQL an advisory lock (so workers on other machines share it too)."""
    from kd_automl.store.optuna_tables import shared_lock

    return WorkQueue(study, target, ws.root / "locks" / f"{study.study_name}.lock",
                     reap=reap_stale, lock=shared_lock(study), reap_every_s=interval_s())


def run_study(spec: ExperimentSpec | str | Path, n_trials: int = 16, *,
              workspace: str | Path | None = None, db: str | None = None,
              storage: str | None = None, study_name: str | None = None, fresh: bool = False,
              baseline: bool = True, workers: int = 1, gpus: list[int] | None = None,
              threads: int | None = None, fuse: int | None = None,
              warm_start: bool | int = False,
              on_trial: TrialCallback | None = None) -> StudySummary:
    """Run (or resume) the Optuna study of ``spec`` until it holds ``n_trials`` more
    finished trials.

    The study is named after the spec (or ``study_name``) and resumes when run
    again; ``fresh=True`` starts a new study with a timestamped name instead.
    Trials and per-epoch metrics go to the store at ``db`` (default: the
    workspace's SQLite file); Optuna's own tables live in ``storage`` (default:
    the same database). ``workers > 1`` runs that many processes taking trials
    from one queue, each on its own GPU when there are GPUs; trials whose
    process died are failed ("worker lost") and retried once. ``threads``: torch
    threads per trial (default: usable cores / trials running at once). ``fuse``
    (default: the spec's ``fuse``): trials each process trains at once as one fused
    group, refilled as they end (see :mod:`kd_automl.engine.fused`).
    ``warm_start`` (True, or how many points): the best points of earlier experiments of
    the same method in the store, nearest teacher/student pair first, are the study's first
    trials (:mod:`kd_automl.orchestrate.warm_start`); each is logged and listed in the
    summary's ``warm_started``.
    SIGTERM and SIGHUP stop the run like Ctrl-C (a ``KeyboardInterrupt``).
    """
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    if fuse is not None:
        if fuse < 1:
            raise KDAutoMLError("--fuse must be >= 1")
        spec = spec.model_copy(update={"fuse": fuse})
    if n_trials < 0:
        raise KDAutoMLError("--trials must be >= 0")
    check_before_search(spec)
    ws = Workspace.resolve(workspace)
    db_url = db or ws.db_url
    store = Store(db_url)
    storage_url = storage or db_url
    study_name = study_name or spec.name
    if fresh:
        study_name = f"{study_name}-{datetime.now():%Y%m%d-%H%M%S}"
    with signals.handled():
        study = _load_study(spec, study_name, storage_url, store_url=db_url)
        exp_id = store.experiment(spec, "optuna", name=study_name, study_name=study_name)
        reap_stale(study)  # trials left RUNNING by a run that died
        before, first = finished_count(study), len(study.get_trials(deepcopy=False))
        study.set_user_attr(TARGET_ATTR, before + n_trials)  # for `optuna worker` to join
        for line in notes(spec):
            log.warning("%s", line)
        warm = _warm_start(study, spec, store, study_name, warm_start, n_trials)
        lost: list[str] = []
        try:
            if workers > 1:  # the workers' fork server imports while the baseline trains
                from kd_automl.orchestrate.workers import start_fork_server

                start_fork_server(spec)
            set_trial_threads(1, threads)
            if baseline:
                run_baseline(spec, store, exp_id, ws, on_trial)
            if workers <= 1:
                queue = work_queue(study, ws, before + n_trials)
                _trial_loop(study, spec, store, exp_id, ws, queue, heartbeat_for(study), on_trial,
                            spec.fuse)
            else:
                from kd_automl.orchestrate.workers import run_workers

                def run_here(report: TrialCallback | None) -> None:  # worker 0, this process
                    _trial_loop(study, spec, store, exp_id, ws,
                                work_queue(study, ws, before + n_trials), heartbeat_for(study),
                                report, spec.fuse)

                lost = run_workers(spec, study, storage_url, db_url, ws, before + n_trials,
                                   workers, gpus, threads, store, exp_id, on_trial, run_here)
        except KeyboardInterrupt as err:
            err.kept = _kept(study, before, first, db_url, err)  # type: ignore[attr-defined]
            raise
    study = optuna.load_study(study_name=study_name, storage=_storage(storage_url))
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if done and not spec.multi_objective else None
    store.dispose()
    return StudySummary(study_name, study_name, storage_url, db_url,
                        finished_count(study) - before, best.value if best else None,
                        best.params if best else None, lost,
                        len(study.best_trials) if done and spec.multi_objective else None,
                        warm)


def _warm_start(study: optuna.Study, spec: ExperimentSpec, store: Store, study_name: str,
                points: bool | int, n_trials: int) -> list[str]:
    """Enqueue up to ``points`` warm-start points (True: the default number, never more
    than ``n_trials``); one logged line per point."""
    if not points or n_trials <= 0:
        return []
    from kd_automl.orchestrate.warm_start import DEFAULT_POINTS, enqueue, warm_start_points

    limit = min(DEFAULT_POINTS if points is True else int(points), n_trials)
    lines = enqueue(study, warm_start_points(store, spec, exclude=study_name, limit=limit))
    if not lines:
        lines = ["warm start: no earlier experiment of method "
                 f"{spec.method.name!r} has a point this search space can take"]
    else:  # a new stream: the same seed would redraw an earlier study's first points
        held = len(study.get_trials(deepcopy=False))
        study.sampler = _sampler(sampler_seed(spec.seed, 0, held), spec)
    for line in lines:
        log.warning("%s", line)
    return lines


def _kept(study: optuna.Study, before: int, first: int, db_url: str,
          err: BaseException) -> str:
    """The one line a stopped run prints: what was kept, what was marked."""
    try:
        new = study.get_trials(deepcopy=False)[first:]
        done = finished_count(study) - before
        marked = sum("abandoned" in t.user_attrs for t in new)
        running = sum(t.state == TrialState.RUNNING for t in new)
    except Exception:
        return "stopped; the finished trials are in the store"
    how = getattr(err, "signum", signal.SIGINT)
    name = "Ctrl-C" if how == signal.SIGINT else signal.Signals(how).name
    tail = f"; {running} still marked running" if running else ""
    return (f"stopped by {name}: {done} finished trial(s) of this run kept in {db_url}; "
            f"{marked} running trial(s) stored as interrupted{tail}; "
            "run the same command to resume")
