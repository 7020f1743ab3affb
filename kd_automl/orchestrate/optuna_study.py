"""Optuna backend: ask/tell over the engine, every trial recorded in the store.

>>> from kd_automl.optuna import run_study
>>> summary = run_study("search_spaces/digits_kd.yaml", n_trials=4)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from pydantic import ValidationError

from kd_automl.data import ensure_available
from kd_automl.engine import TrialResult, run_trial
from kd_automl.errors import KDAutoMLError, TrialPruned
from kd_automl.orchestrate.gpus import gpu_for_worker, visible_gpus
from kd_automl.search import suggest_params
from kd_automl.spec import ExperimentSpec, apply_params, load_spec, parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

TrialCallback = Callable[["TrialEvent"], None]


@dataclass
class TrialEvent:
    """A trial that just ended, for progress displays."""

    number: int | str
    role: str
    params: dict[str, Any]
    result: TrialResult


@dataclass
class StudySummary:
    experiment: str
    study_name: str
    storage: str
    db: str
    trials_run: int
    best_value: float | None
    best_params: dict[str, Any] | None


class OptunaReporter:
    """Reports each epoch's objective to an Optuna trial; prunes when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str):
        self.trial, self.metric = trial, metric

    def report_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.metric in metrics:
            self.trial.report(metrics[self.metric], epoch)
            if self.trial.should_prune():
                raise TrialPruned(f"pruned at epoch {epoch}")

    def report_final(self, result: TrialResult) -> None:
        pass


def _pruner(spec: ExperimentSpec) -> optuna.pruners.BasePruner:
    if spec.pruner.name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=spec.pruner.startup_trials,
                                       n_warmup_steps=spec.pruner.warmup_epochs)


def _storage(url: str) -> optuna.storages.RDBStorage:
    kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as err:
        raise KDAutoMLError(f"cannot open Optuna storage {url}: {str(err).splitlines()[0]}") \
            from None


def _with_defaults(data: dict) -> dict:
    """A stored spec with the fields added since it was stored filled in by their defaults."""
    try:
        return ExperimentSpec.model_validate(data).to_dict()
    except ValidationError:  # an older spec that no longer validates is simply different
        return data


def _load_study(spec: ExperimentSpec, study_name: str, storage_url: str) -> optuna.Study:
    study = optuna.create_study(study_name=study_name, storage=_storage(storage_url),
                                sampler=optuna.samplers.TPESampler(seed=spec.seed),
                                pruner=_pruner(spec), direction=spec.objective.direction,
                                load_if_exists=True)
    old = study.user_attrs.get("kd_automl_spec")
    if old is None:
        study.set_user_attr("kd_automl_spec", spec.to_dict())
    elif _with_defaults(old) != spec.to_dict():
        raise KDAutoMLError(
            f"study {study_name!r} already exists with a different spec; resume it with the "
            "same spec, or start a new one with --fresh (or --study NAME)")
    return study


def run_baseline(spec: ExperimentSpec, store: Store, experiment_id: int, workspace: Workspace,
                 on_trial: TrialCallback | None = None) -> TrialResult | None:
    """Train the student alone (method ``ce``) once per experiment, for the KD-gain column."""
    done = [t for t in store.trials([experiment_id], role="baseline") if t.state == "complete"]
    if done:
        return None
    base_spec = apply_params(spec, {"method": {"_name": "ce"}}, source="baseline")
    trial_id = store.start_trial(experiment_id, "baseline", {}, role="baseline", method="ce")
    result = run_trial(base_spec, workspace)
    store.finish_trial(trial_id, result)
    if on_trial:
        on_trial(TrialEvent("baseline", "baseline", {}, result))
    return result


@contextlib.contextmanager
def _sigint_deferred():
    """Hold a Ctrl-C until the block ends (ask/tell must not be cut in half).

    Yields a list that is non-empty when a Ctrl-C arrived; the caller raises it
    where it can clean up. Only the main thread can hold signals; elsewhere this
    does nothing.
    """
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class AskedTrial:
    """An Optuna trial that was asked, with its parameters and its row in the store."""

    trial: optuna.Trial
    params: dict[str, Any]
    store_id: int | None = None


def begin_trial(study: optuna.Study, spec: ExperimentSpec, store: Store,
                experiment_id: int) -> AskedTrial:
    """Ask the study for a trial and open its row in the store (Ctrl-C held during ask)."""
    with _sigint_deferred() as interrupted:
        trial = study.ask()
    asked = AskedTrial(trial, {})
    try:
        if interrupted:
            raise KeyboardInterrupt
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
        with _sigint_deferred() as interrupted:
            store.finish_trial(asked.store_id, result)
            finished = True
            trial = asked.trial
            if result.status == "complete":
                trial.set_user_attr("student_test_acc", result.student_test_acc)
                study.tell(trial, result.objective(spec.objective.metric))
            else:
                if result.error:
                    trial.set_user_attr("fail_reason", result.error[:2000])
                study.tell(trial, state=TrialState.PRUNED if result.status == "pruned"
                           else TrialState.FAIL)
            told = True
        if interrupted:
            raise KeyboardInterrupt
    except BaseException:
        if not (finished and told):
            abandon_trial(study, store, asked, told=told, finished=finished)
        raise


def abandon_trial(study: optuna.Study, store: Store, asked: AskedTrial, *, told: bool = False,
                  finished: bool = False, reason: str = "interrupted") -> None:
    """Close a trial that cannot finish: FAILED with ``reason`` in both stores, never raising."""
    with contextlib.suppress(Exception):
        if asked.store_id is not None and not finished:
            store.mark_failed(asked.store_id, reason)
    with contextlib.suppress(Exception):
        if not told:
            study.tell(asked.trial, state=TrialState.FAIL)


def _one_trial(study: optuna.Study, spec: ExperimentSpec, store: Store, experiment_id: int,
               workspace: Workspace, on_trial: TrialCallback | None) -> None:
    asked = begin_trial(study, spec, store, experiment_id)
    try:
        try:
            trial_spec = apply_params(spec, asked.params, source=f"trial {asked.trial.number}")
            result = run_trial(trial_spec, workspace,
                               OptunaReporter(asked.trial, spec.objective.metric))
        except KDAutoMLError as err:  # the sampled point is not a valid spec
            result = TrialResult(status="failed", error=str(err))
    except BaseException:
        # Ctrl-C (or a store error) while the trial runs: nothing is left "running"
        abandon_trial(study, store, asked)
        raise
    end_trial(study, spec, store, asked, result)
    if on_trial:
        on_trial(TrialEvent(asked.trial.number, "search", asked.params, result))


def _worker(spec_data: dict, study_name: str, storage_url: str, db_url: str, workspace: str,
            n_trials: int, gpu: str | None) -> None:
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = parse_spec(spec_data)
    store = Store(db_url)
    ws = Workspace(Path(workspace))
    study = _load_study(spec, study_name, storage_url)
    exp_id = store.experiment(spec, "optuna", name=study_name, study_name=study_name)
    for _ in range(n_trials):
        _one_trial(study, spec, store, exp_id, ws, None)


def run_study(spec: ExperimentSpec | str | Path, n_trials: int = 16, *,
              workspace: str | Path | None = None, db: str | None = None,
              storage: str | None = None, study_name: str | None = None, fresh: bool = False,
              baseline: bool = True, workers: int = 1, gpus: list[int] | None = None,
              on_trial: TrialCallback | None = None) -> StudySummary:
    """Run (or resume) the Optuna study of ``spec`` for ``n_trials`` more trials.

    The study is named after the spec (or ``study_name``) and resumes when run
    again; ``fresh=True`` starts a new study with a timestamped name instead.
    Trials and per-epoch metrics go to the store at ``db`` (default: the
    workspace's SQLite file); Optuna's own tables live in ``storage`` (default:
    the same database). ``workers > 1`` runs that many processes, each on its
    own GPU when there are GPUs.
    """
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    if n_trials < 0:
        raise KDAutoMLError("--trials must be >= 0")
    if not spec.search:
        raise KDAutoMLError(f"spec {spec.name!r} has an empty 'search' section: nothing to tune")
    ensure_available(spec.dataset.name, spec.dataset.options)  # one clear error, not N trials
    ws = Workspace.resolve(workspace)
    db_url = db or ws.db_url
    store = Store(db_url)
    storage_url = storage or db_url
    study_name = study_name or spec.name
    if fresh:
        study_name = f"{study_name}-{datetime.now():%Y%m%d-%H%M%S}"
    study = _load_study(spec, study_name, storage_url)
    exp_id = store.experiment(spec, "optuna", name=study_name, study_name=study_name)
    if baseline:
        run_baseline(spec, store, exp_id, ws, on_trial)
    before = len(study.trials)
    if workers <= 1:
        for _ in range(n_trials):
            _one_trial(study, spec, store, exp_id, ws, on_trial)
    else:
        _run_workers(spec, study_name, storage_url, db_url, ws, n_trials, workers, gpus)
    study = optuna.load_study(study_name=study_name, storage=_storage(storage_url))
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if done else None
    store.dispose()
    return StudySummary(study_name, study_name, storage_url, db_url, len(study.trials) - before,
                        best.value if best else None, best.params if best else None)


def _run_workers(spec: ExperimentSpec, study_name: str, storage_url: str, db_url: str,
                 ws: Workspace, n_trials: int, workers: int, gpus: list[int] | None) -> None:
    devices = visible_gpus(gpus)
    ctx = mp.get_context("spawn")
    shares = [n_trials // workers + (1 if i < n_trials % workers else 0) for i in range(workers)]
    procs = [ctx.Process(target=_worker, args=(spec.to_dict(), study_name, storage_url, db_url,
                                               str(ws.root), share, gpu_for_worker(i, devices)),
                         name=f"kd-worker-{i}")
             for i, share in enumerate(shares) if share > 0]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    bad = [p.name for p in procs if p.exitcode != 0]
    if bad:
        log.error("workers %s exited with errors; their finished trials are stored", bad)
