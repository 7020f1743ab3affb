"""The Optuna backend's trial source: :class:`OptunaSource` (ask → a planned trial, done →
tell) for the trial runner (:mod:`kd_automl.orchestrate.runner`), which opens and closes
every row, and :func:`trial_loop`, one process's loop over the study's work queue;
:mod:`kd_automl.orchestrate.optuna.run` runs a whole study.

>>> trial_loop(study, spec, store, exp_id, ws, work_queue(study, ws, 8))     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from kd_automl.engine import TrialResult
from kd_automl.errors import KDAutoMLError, TrialPruned
from kd_automl.orchestrate import signals
from kd_automl.orchestrate.heartbeat import Heartbeat, heartbeat_for
from kd_automl.orchestrate.lean_optuna import should_prune, tell
from kd_automl.orchestrate.runner import PlannedTrial, TrialCallback, TrialSource, run_trials
from kd_automl.orchestrate.work_queue import WorkQueue
from kd_automl.search import suggest_params
from kd_automl.spec import ExperimentSpec, apply_params
from kd_automl.store import Store
from kd_automl.store.optuna_private import warmup_steps
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)
ABANDON_TRIES = 3  # tells of an abandoned trial before it is left to the next run's reaping


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
        planned = PlannedTrial(trial.number, None, {}, handle=trial)
        try:  # from here a stop (held, or arriving now) abandons the asked trial
            planned.reporter = OptunaReporter.for_spec(trial, self.spec)
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
        for attempt in range(ABANDON_TRIES):  # a busy database (a locked SQLite file): again
            try:
                self.study.tell(trial.handle, state=TrialState.FAIL)
                break
            except Exception as err:
                if attempt + 1 == ABANDON_TRIES:  # left RUNNING: the next run reaps it
                    log.warning("trial %s left running: %s", trial.number, err)
                else:
                    time.sleep(0.5)
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
