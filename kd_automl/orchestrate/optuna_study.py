"""The Optuna backend's study and its trial source: open the storage, load the study (its
sampler seeded per worker and run), and :class:`OptunaSource` (ask → a planned trial, done →
tell) for the trial runner (:mod:`kd_automl.orchestrate.runner`), which opens and closes
every row. :func:`trial_loop` is one process's loop; :mod:`kd_automl.orchestrate.optuna_run`
runs a whole study.

>>> study = load_study(spec, "digits-kd", "sqlite:///runs/kd_automl.db")     # doctest: +SKIP
>>> trial_loop(study, spec, store, exp_id, ws, work_queue(study, ws, 8))     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import warnings
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
from kd_automl.orchestrate.runner import PlannedTrial, TrialCallback, TrialSource, run_trials
from kd_automl.orchestrate.work_queue import WorkQueue
from kd_automl.search import suggest_params
from kd_automl.search.strategy import build_pruner, build_sampler
from kd_automl.spec import ExperimentSpec, apply_params
from kd_automl.store import Store
from kd_automl.store.db import schema_lock
from kd_automl.store.optuna_private import warmup_steps
from kd_automl.workspace import Workspace

TARGET_ATTR = "kd_automl_target"  # finished trials the running study is asked for


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
        return epoch >= warmup_steps(pruner)
    return True


def _pruner(spec: ExperimentSpec) -> optuna.pruners.BasePruner:
    return build_pruner(spec)


def open_storage(url: str, store_url: str | None = None) -> optuna.storages.RDBStorage:
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


def _share_file(kept: Path, copy: Path) -> None:
    """Make the artifact store's copy a hard link to the kept file, so the weights take their
    disk space once (a file system without hard links keeps the copy)."""
    tmp = copy.with_name(copy.name + ".link")
    try:
        os.link(kept, tmp)
        os.replace(tmp, copy)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _identity(spec_data: dict) -> dict:
    """What must match to resume a study: the spec without how it is run (``fuse``, which
    weights are kept, when to checkpoint)."""
    out = {k: v for k, v in spec_data.items() if k not in ("fuse", "artifacts")}
    if isinstance(out.get("train"), dict):  # when to checkpoint is how it runs, too
        out["train"] = {k: v for k, v in out["train"].items() if k != "checkpoint_every"}
    return out


def load_study(spec: ExperimentSpec, study_name: str, storage_url: str, *,
                store_url: str | None = None, worker: int = 0,
                n_trials: int | None = None) -> optuna.Study:
    """Create or load the study; its sampler is seeded per worker and per run (``n_trials``:
    the study's trial count when the run began, default: now)."""
    study = optuna.create_study(study_name=study_name, storage=open_storage(storage_url, store_url),
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


class OptunaSource(TrialSource):
    """The study's trials for the runner: ``next_trial`` claims one from the work queue and
    asks for it (stop signals held during ask), ``done`` tells its result, ``abandon`` fails
    it (it does not count as finished: ``abandoned`` holds the reason, no ``fail_reason``).

    ``queue``: the work queue whose ``claim()`` grants trials (released once each trial
    exists). ``heartbeat``: beats for each trial until it ends (default: this process's
    heartbeat for the study's storage, when heartbeats are on).
    """

    def __init__(self, study: optuna.Study, spec: ExperimentSpec, queue: WorkQueue, *,
                 heartbeat: Heartbeat | None = None):
        self.study, self.spec, self.queue = study, spec, queue
        self.heartbeat = heartbeat or heartbeat_for(study)

    def next_trial(self, wait: bool = True) -> PlannedTrial | None:
        if not self.queue.claim(wait=wait):
            return None
        try:
            with signals.deferred() as interrupted:
                with warnings.catch_warnings():  # we beat ourselves (see heartbeat.py)
                    warnings.filterwarnings("ignore", "Heartbeat of storage")
                    trial = self.study.ask()
                if self.heartbeat is not None:
                    self.heartbeat.add(trial)
        finally:
            self.queue.asked()
        planned = PlannedTrial(trial.number, None, {}, handle=trial,
                               reporter=OptunaReporter.for_spec(trial, self.spec))
        try:
            signals.raise_held(interrupted)
            planned.params = suggest_params(trial, self.spec.search)
        except BaseException:
            self.abandon(planned, "interrupted")
            raise
        try:
            planned.spec = apply_params(self.spec, planned.params, source=f"trial {trial.number}")
        except KDAutoMLError as err:  # the sampled point is not a valid spec
            planned.error = str(err)
        return planned

    def opened(self, trial: PlannedTrial) -> None:
        trial.handle.set_user_attr("kd_trial_id", trial.store_id)  # a lost worker's row

    def done(self, trial: PlannedTrial, result: TrialResult) -> None:
        spec, optuna_trial = self.spec, trial.handle
        if result.status == "complete":
            optuna_trial.set_user_attr("student_test_acc", result.student_test_acc)
            values = [result.objective(g.metric) for g in spec.goals]
            tell(self.study, optuna_trial, values if spec.multi_objective else values[0])
        else:
            if result.status == "failed":  # failed on its own: counts as finished
                optuna_trial.set_user_attr("fail_reason", (result.error or "failed")[:2000])
            tell(self.study, optuna_trial, state=TrialState.PRUNED if result.status == "pruned"
                 else TrialState.FAIL)
        if self.heartbeat is not None:
            self.heartbeat.remove(optuna_trial)

    def abandon(self, trial: PlannedTrial, reason: str) -> None:
        with contextlib.suppress(Exception):
            trial.handle.set_user_attr("abandoned", reason)
        with contextlib.suppress(Exception):
            self.study.tell(trial.handle, state=TrialState.FAIL)
        if self.heartbeat is not None:
            self.heartbeat.remove(trial.handle)

    def kept(self, trial: PlannedTrial, path: Path, workspace: Workspace) -> dict[str, Any]:
        """Register the trial's student file in the workspace's Optuna artifact store, so
        optuna-dashboard (``--artifact-dir <workspace>/optuna_artifacts``) lists it."""
        from optuna.artifacts import FileSystemArtifactStore, upload_artifact

        from kd_automl.orchestrate.artifacts import optuna_artifact_dir

        folder = optuna_artifact_dir(workspace)
        folder.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            artifact_id = upload_artifact(artifact_store=FileSystemArtifactStore(str(folder)),
                                          file_path=str(path), study_or_trial=trial.handle,
                                          mimetype="application/octet-stream")
        _share_file(path, folder / artifact_id)
        return {"optuna_artifact_id": artifact_id}

    def fuse_blocker(self) -> str | None:
        from kd_automl.orchestrate.fused_search import fuse_blocker

        return fuse_blocker(self.spec)


def trial_loop(study: optuna.Study, spec: ExperimentSpec, store: Store, experiment_id: int,
               workspace: Workspace, queue: WorkQueue, heartbeat: Heartbeat | None = None,
               on_trial: TrialCallback | None = None, fuse: int = 1) -> None:
    """One process's loop: run trials while the queue grants them, ``fuse`` at a time in one
    fused group when the spec allows it (else one by one, saying why)."""
    run_trials(OptunaSource(study, spec, queue, heartbeat=heartbeat), store, experiment_id,
               workspace, fuse=fuse, on_trial=on_trial)


def work_queue(study: optuna.Study, ws: Workspace, target: int) -> WorkQueue:
    """The queue every process of one study shares: a lock file in the workspace, or on
    PostgreSQL an advisory lock (so workers on other machines share it too)."""
    from kd_automl.store.optuna_tables import shared_lock

    return WorkQueue(study, target, ws.root / "locks" / f"{study.study_name}.lock",
                     reap=reap_stale, lock=shared_lock(study), reap_every_s=interval_s())
