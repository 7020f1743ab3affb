"""Optuna backend: run (or resume) a study over the engine, every trial recorded in the store
by the trial runner (:mod:`kd_automl.orchestrate.runner`), in this process or in workers.

>>> from kd_automl.optuna import run_study
>>> summary = run_study("digits_kd", n_trials=4)   # doctest: +SKIP
>>> summary.best_trial, summary.best_test_acc, summary.best_weights   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from kd_automl.engine.teacher import teacher_cached
from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate import signals
from kd_automl.orchestrate.heartbeat import heartbeat_for
from kd_automl.orchestrate.optuna.prepare import prepare_study
from kd_automl.orchestrate.optuna.source import trial_loop
from kd_automl.orchestrate.optuna.study import open_storage, sampler_seed, work_queue
from kd_automl.orchestrate.recording import TrialCallback, check_before_search, run_baseline
from kd_automl.orchestrate.threads import set_trial_threads
from kd_automl.orchestrate.trial_log import trial_log
from kd_automl.orchestrate.work_queue import finished_count
from kd_automl.orchestrate.workers import run_workers, start_fork_server
from kd_automl.search.strategy import build_sampler, notes
from kd_automl.spec import ExperimentSpec, load_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrontTrial:
    """One trial of a multi-objective study's Pareto front, with its numbers from the store."""

    trial: int  # its Optuna number (the leaderboard's trial)
    values: dict[str, float]  # each objective's metric and value, in the spec's order
    val_acc: float | None = None  # fractions, as in the summary
    test_acc: float | None = None
    gain: float | None = None  # test_acc - the student alone's test accuracy
    weights: Path | None = None  # its kept student, or None


@dataclass
class StudySummary:
    """What :func:`run_study` did, and the study's best trial (single-objective studies) or
    its Pareto front (multi-objective: ``pareto``, by the first objective).

    Accuracies, gains and ``best_value`` (the objective, e.g. ``val_acc``) are fractions in
    [0, 1] (0.9611), as the store holds them; the CLI shows them as % (96.11%).
    """

    experiment: str
    study_name: str
    storage: str
    db: str
    trials_run: int
    best_value: float | None  # the best trial's objective value (a fraction for accuracies)
    best_params: dict[str, Any] | None
    lost_workers: list[str] = field(default_factory=list)  # workers that died mid-run
    pareto_size: int | None = None  # multi-objective: trials on the Pareto front
    warm_started: list[str] = field(default_factory=list)  # one line per point enqueued
    continued: list[str] = field(default_factory=list)  # interrupted trials continued
    best_trial: int | None = None  # the best trial's Optuna number (the leaderboard's trial)
    best_val_acc: float | None = None  # its student's validation accuracy (fraction)
    best_test_acc: float | None = None  # its student's test accuracy (fraction)
    student_alone_test_acc: float | None = None  # the baseline: the student without a teacher
    best_gain: float | None = None  # best_test_acc - student_alone_test_acc (fraction)
    best_weights: Path | None = None  # its kept student (``artifacts:``), or None
    pareto: list[FrontTrial] = field(default_factory=list)  # multi-objective: the front


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
    ``on_trial`` hears each trial's :class:`TrialEvent`; without one, each trial is one INFO
    line of the ``kd_automl.progress`` logger (to stderr when logging is set up nowhere:
    :mod:`kd_automl.orchestrate.trial_log`). The summary names the best trial, its
    accuracies and gain as fractions, and its kept weights (:class:`StudySummary`).
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
    with signals.handled():
        ready = prepare_study(spec, n_trials, store, ws, storage_url=storage_url,
                              study_name=study_name, fresh=fresh)
        study, study_name, exp_id = ready.study, ready.study_name, ready.experiment_id
        before, first, target = ready.before, ready.first, ready.target
        for line in notes(spec):
            log.warning("%s", line)
        warm = _warm_start(study, spec, store, study_name, warm_start, n_trials)
        lost: list[str] = []
        if on_trial is None:  # a script's call: one log line per trial (the CLI passes its own)
            on_trial = trial_log(spec, n_trials, teacher_cached(spec, ws), _best_value(study, spec))
        try:
            if workers > 1:  # the workers' fork server imports while the baseline trains
                start_fork_server(spec)
            set_trial_threads(1, threads)
            if baseline:
                run_baseline(spec, store, exp_id, ws, on_trial)
            if workers <= 1:
                queue = work_queue(study, ws, target)
                trial_loop(study, spec, store, exp_id, ws, queue, heartbeat_for(study), on_trial,
                           spec.fuse)
            else:
                def run_here(report: TrialCallback | None) -> None:  # worker 0, this process
                    trial_loop(study, spec, store, exp_id, ws,
                               work_queue(study, ws, target), heartbeat_for(study),
                               report, spec.fuse)

                lost = run_workers(spec, study, storage_url, db_url, ws, target,
                                   workers, gpus, threads, store, exp_id, on_trial, run_here)
        except KeyboardInterrupt as err:
            err.kept = _kept(study, before, first, db_url, err)  # type: ignore[attr-defined]
            err.owed = max(0, n_trials - (finished_count(study) - before))  # type: ignore
            err.study_name = study_name  # type: ignore[attr-defined]
            err.interrupted = sum("abandoned" in t.user_attrs  # type: ignore[attr-defined]
                                  for t in study.get_trials(deepcopy=False)[first:])
            raise
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url))
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if done and not spec.multi_objective else None
    best_row = _best_row(store, exp_id, best)
    front = _front(store, exp_id, study, spec) if done and spec.multi_objective else []
    store.dispose()
    return StudySummary(study_name, study_name, storage_url, db_url,
                        finished_count(study) - before, best.value if best else None,
                        best.params if best else None, lost,
                        len(front) if done and spec.multi_objective else None,
                        warm, ready.continued, **best_row, pareto=front)


def _best_value(study: optuna.Study, spec: ExperimentSpec) -> float | None:
    """The study's best objective so far (single-objective; None before its first)."""
    if spec.multi_objective:
        return None
    try:
        return study.best_value
    except ValueError:  # no completed trial yet
        return None


def _row_of(store: Store, exp_id: int, trial: optuna.trial.FrozenTrial):
    """The store's row of an Optuna trial, or None."""
    store_id = trial.user_attrs.get("kd_trial_id")
    rows = store.trials_by_id([store_id]) if isinstance(store_id, int) else []
    if not rows:
        rows = [t for t in store.trials([exp_id], role="search")
                if t.backend_trial_id == str(trial.number)]
    return rows[-1] if rows else None


def _best_row(store: Store, exp_id: int, best) -> dict[str, Any]:
    """The summary's fields of the best Optuna trial, from its row in the store."""
    if best is None:
        return {}
    t = _row_of(store, exp_id, best)
    if t is None:
        return {"best_trial": best.number}
    return {"best_trial": best.number, "best_val_acc": t.student_val_acc,
            "best_test_acc": t.student_test_acc,
            "student_alone_test_acc": t.experiment.baseline_test_acc, "best_gain": t.gain,
            "best_weights": t.weights.path if t.weights else None}


def _front(store: Store, exp_id: int, study: optuna.Study, spec: ExperimentSpec
           ) -> list[FrontTrial]:
    """The study's Pareto front, best first by its first objective."""
    metrics = [g.metric for g in spec.goals]
    first_up = spec.goals[0].direction == "maximize"
    front = []
    for trial in sorted(study.best_trials, key=lambda t: t.values[0], reverse=first_up):
        t = _row_of(store, exp_id, trial)
        front.append(FrontTrial(
            trial.number, dict(zip(metrics, trial.values, strict=True)),
            t.student_val_acc if t else None, t.student_test_acc if t else None,
            t.gain if t else None, t.weights.path if t and t.weights else None))
    return front


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
        study.sampler = build_sampler(spec, sampler_seed(spec.seed, 0, held))
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
            f"{marked} running trial(s) stored as interrupted{tail}")
