"""One trial runner for every backend: a source plans trials, the runner runs and records them.

A :class:`TrialSource` hands out planned trials (key, spec, sampled parameters, reporter) and
hears how each ended (``done``) or that it was abandoned. :func:`run_trials` is the only code
that opens and finishes rows in the store: it opens each trial's row, runs it (alone, or
``fuse`` at a time in one fused group, refilled as members leave), stores its result and
hands it back. A trial stopped halfway (Ctrl-C, a signal, a store error: any
``BaseException``) is stored as failed ("interrupted") and abandoned at its source, and the
stop goes on. The split is Ray Tune's searcher and controller: the source proposes, the
runner runs.

>>> trial = PlannedTrial("7", trial_spec, {"method.alpha": 0.5})        # doctest: +SKIP
>>> run_trials(PlannedList([trial]), store, experiment_id, workspace)   # doctest: +SKIP
>>> trial.store_id, trial.result.status                                 # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from kd_automl.engine.reporters import NullReporter, Reporter
from kd_automl.orchestrate import artifacts, signals
from kd_automl.results import TrialResult
from kd_automl.spec import ExperimentSpec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"  # the error of a row whose trial was stopped halfway


@dataclass
class TrialEvent:
    """A trial that just ended, for progress displays."""

    number: int | str
    role: str
    params: dict[str, Any]
    result: TrialResult


TrialCallback = Callable[[TrialEvent], None]


@dataclass
class PlannedTrial:
    """One trial as its source planned it; the runner fills in ``store_id`` and ``result``."""

    key: Hashable  # the backend's id for it: the row's backend_trial_id
    spec: ExperimentSpec | None  # the spec to run, sampled values written in
    params: dict[str, Any]  # the sampled values, as stored on the row
    reporter: Reporter = field(default_factory=NullReporter)
    role: str = "search"
    method: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # added to the result's extra
    run: Callable[[], TrialResult] | None = None  # instead of the engine on ``spec`` (unfused)
    error: str | None = None  # the point is not a valid spec: stored failed, never run
    handle: Any = None  # the source's own object for it (an Optuna trial, a confirm job)
    store_id: int | None = None
    result: TrialResult | None = None
    student: Any = None  # the trained student the engine handed back, until the trial closes
    checkpoint: Any = None  # its Checkpoint (kd_automl.engine.checkpoint) while it runs


class TrialSource(Protocol):
    """Where the runner's trials come from; subclass it for the defaults below."""

    spec: ExperimentSpec | None  # what its trials share: a fused group is built from it

    def next_trial(self, wait: bool = True) -> PlannedTrial | None:
        """The next trial, or None when there is none. ``wait=False``: answer at once (a
        fused group asks while its own members train)."""

    def opened(self, trial: PlannedTrial) -> None:
        """The trial's row is open (``trial.store_id`` is set) and it is about to run."""

    def done(self, trial: PlannedTrial, result: TrialResult) -> None:
        """The trial ended and its result is stored (signals are held meanwhile)."""

    def abandon(self, trial: PlannedTrial, reason: str) -> None:
        """The trial cannot finish; close it at the source without raising."""

    def kept(self, trial: PlannedTrial, path: Path, workspace: Workspace) -> dict[str, Any]:
        """The trial's student was saved at ``path`` (before ``done``); what the source adds
        to the file's record (Optuna: its artifact id). Default: nothing."""
        return {}

    def fuse_blocker(self) -> str | None:
        """Why these trials cannot share one fused group (None: they can)."""
        if self.spec is None:
            return "its trials run their own code, not a spec"
        from kd_automl.engine.fused import fusable_method

        return fusable_method(self.spec.method.name)


class PlannedList(TrialSource):
    """A fixed list of planned trials, run in order (confirm runs, one recorded trial)."""

    def __init__(self, trials: Iterable[PlannedTrial], spec: ExperimentSpec | None = None):
        self.trials = list(trials)
        self.spec = spec or (self.trials[0].spec if self.trials else None)

    def next_trial(self, wait: bool = True) -> PlannedTrial | None:
        return self.trials.pop(0) if self.trials else None


def finish(store: Store, trial_id: int, result: TrialResult) -> None:
    """Store ``result`` as the trial's outcome (with the torch threads it ran on)."""
    import torch

    result.extra.setdefault("torch_threads", torch.get_num_threads())
    store.finish_trial(trial_id, result)


def fallback_line(fuse: int, reason: str) -> str:
    return f"fuse {fuse}: running trials one at a time: {reason}"


def run_trials(source: TrialSource, store: Store, experiment: int,
               workspace: Workspace | None, *, fuse: int = 1,
               on_trial: TrialCallback | None = None, notes: list[str] | None = None) -> None:
    """Run ``source``'s trials until it has none, recording each in ``experiment``.

    ``fuse > 1``: that many at a time in one fused group when the source's trials can share
    one; else one at a time, with one warning saying why (logged once per ``notes`` list,
    where the line is added). ``on_trial`` hears every trial that ended.
    """
    runner = _Runner(source, store, experiment, workspace, on_trial)
    if fuse > 1:
        reason = source.fuse_blocker()
        if reason is None:
            from kd_automl.engine.fused import FusedGroup
            from kd_automl.engine.fused_students import NotFusable

            try:
                group = FusedGroup(source.spec, workspace, fuse)  # nothing was asked yet
            except NotFusable as err:
                reason = str(err)
            else:
                runner.run_fused(group)
                return
        line = fallback_line(fuse, reason)
        notes = [] if notes is None else notes
        if line not in notes:
            notes.append(line)
            log.warning("%s", line)
    while (trial := source.next_trial(wait=True)) is not None:
        runner.run_one(trial)


def run_one(trial: PlannedTrial, store: Store, experiment: int,
            workspace: Workspace | None = None) -> TrialResult:
    """Run and record one planned trial; returns its result (``trial.store_id``: its row)."""
    run_trials(PlannedList([trial]), store, experiment, workspace)
    return trial.result


class _Runner:
    """Opens, runs and closes the trials of one :func:`run_trials` call."""

    def __init__(self, source: TrialSource, store: Store, experiment: int,
                 workspace: Workspace | None, on_trial: TrialCallback | None):
        self.source, self.store, self.experiment = source, store, experiment
        self.workspace, self.on_trial = workspace, on_trial

    def run_one(self, trial: PlannedTrial) -> None:
        self.open(trial)
        try:
            result = self.execute(trial)
        except BaseException:
            self.abandon(trial)
            raise
        self.close(trial, result)

    def run_fused(self, group) -> None:
        """Fill ``group``'s free slots from the source and close members as they leave."""
        running: dict[Hashable, PlannedTrial] = {}

        def next_member():
            while (trial := self.source.next_trial(wait=not running)) is not None:
                self.open(trial)
                if trial.error is not None:
                    self.close(trial, TrialResult(status="failed", error=trial.error))
                    continue
                running[trial.key] = trial
                return trial.key, trial.spec, trial.reporter, self.checkpoint_of(trial)
            return None

        def on_done(key: Hashable, result: TrialResult) -> None:
            self.close(running.pop(key), result)

        def on_student(key: Hashable, student) -> None:
            running[key].student = student

        group.on_student = on_student
        try:
            group.run(next_member, on_done)
        except BaseException:
            for trial in running.values():
                self.abandon(trial)
            raise

    def open(self, trial: PlannedTrial) -> None:
        """Open the trial's row (a re-run one is reset) and tell the source."""
        try:
            trial.store_id = self.store.start_trial(self.experiment, trial.key, trial.params,
                                                    role=trial.role, method=trial.method)
            self.source.opened(trial)
        except BaseException:
            self.abandon(trial)
            raise

    def execute(self, trial: PlannedTrial) -> TrialResult:
        """Run one open trial alone: the one place a trial's training starts, with its row
        (``trial.store_id``) already open. With a workspace, the trial continues from the
        checkpoint of an earlier run of the same spec (stopped, or its worker lost) and saves
        its own (``train.checkpoint_every``)."""
        if trial.error is not None:
            return TrialResult(status="failed", error=trial.error)
        if trial.run is not None:
            return trial.run()
        from kd_automl.engine.trial import run_trial

        def on_student(student) -> None:
            trial.student = student

        return run_trial(trial.spec, self.workspace, trial.reporter, on_student=on_student,
                         checkpoint=self.checkpoint_of(trial))

    def checkpoint_of(self, trial: PlannedTrial):
        """The trial's checkpoint (None without a workspace), keyed by its spec: a retry of
        the same parameters finds the one an earlier run left."""
        from kd_automl.engine.checkpoint import Checkpoint

        if self.workspace is not None and trial.spec is not None:
            trial.checkpoint = Checkpoint(
                artifacts.checkpoint_dir(self.workspace, self.experiment_name, trial.spec),
                trial.spec.train.checkpoint_every, trial.role)
        return trial.checkpoint

    @cached_property
    def experiment_name(self) -> str:
        return next((e.name for e in self.store.experiments() if e.id == self.experiment),
                    str(self.experiment))

    def keep_weights(self, trial: PlannedTrial, result: TrialResult) -> list:
        """Save the trial's student when the spec's ``artifacts`` policy keeps it, recording
        the file in ``result.extra``; returns the kept trials it pushed out of the top K. A
        file that cannot be written (a full disk) is a warning: the result is still stored."""
        student, trial.student = trial.student, None
        spec = trial.spec or self.source.spec
        if self.workspace is None or spec is None or trial.store_id is None:
            return []
        path = artifacts.student_path(self.workspace, self.experiment_name, trial.store_id)
        try:
            plan = artifacts.Plan(False) if student is None else artifacts.plan(
                spec.artifacts, trial.role, result, spec, self.store, self.experiment,
                trial.store_id)
            if not plan.keep:
                artifacts.discard(path)  # a re-run trial's old file
                return []
            weights = artifacts.save(path, student, {
                "experiment": self.experiment_name, "trial_id": trial.store_id,
                "backend_trial_id": str(trial.key), "role": trial.role,
                "val_acc": result.student_val_acc, "test_acc": result.student_test_acc})
        except Exception as err:  # OSError (a full disk) or the store: the result goes on
            line = f"trial {trial.key}: weights not kept ({type(err).__name__}: {err})"
            log.warning("%s", line)
            result.extra["weights_error"] = line
            with contextlib.suppress(OSError):
                artifacts.discard(path)
            return []
        try:
            weights |= self.source.kept(trial, path, self.workspace) or {}
        except Exception as err:  # the file is kept; only its registration failed
            log.warning("trial %s: weights kept at %s but not registered with its backend: "
                        "%s", trial.key, path, err)
        result.extra[artifacts.WEIGHTS_KEY] = weights
        return plan.drop

    def close(self, trial: PlannedTrial, result: TrialResult) -> None:
        """Store the result and tell the source, as one step a stop signal cannot cut."""
        result.extra.update(trial.extra)
        if trial.checkpoint is not None and trial.checkpoint.notes:
            result.extra["checkpoint"] = list(trial.checkpoint.notes)  # resumed, or refused
        finished = told = False
        try:
            drop = self.keep_weights(trial, result)  # inside: a stop while saving abandons it
            with signals.deferred() as held:
                finish(self.store, trial.store_id, result)
                finished = True
                self.source.done(trial, result)
                told = True
                trial.result = result
            signals.raise_held(held)
        except BaseException:
            if not told:
                self.abandon(trial, finished=finished)
            raise
        if trial.checkpoint is not None:  # the trial ended: nothing to continue
            trial.checkpoint.clear()
        if drop:
            artifacts.remove(self.store, self.workspace, drop)
        if self.on_trial:
            self.on_trial(TrialEvent(trial.key, trial.role, trial.params, result))

    def abandon(self, trial: PlannedTrial, *, finished: bool = False,
                reason: str = INTERRUPTED) -> None:
        """Mark the row (unless its result is stored) and abandon it at the source."""
        if trial.store_id is not None and not finished:
            saved = getattr(trial.checkpoint, "saved_epoch", 0)
            kept = {"checkpoint_epoch": saved} if saved else None  # where a retry continues
            with contextlib.suppress(Exception):
                self.store.mark_failed(trial.store_id, reason, extra=kept)
        with contextlib.suppress(Exception):
            self.source.abandon(trial, reason)


__all__ = ["INTERRUPTED", "PlannedList", "PlannedTrial", "TrialCallback", "TrialEvent",
           "TrialSource", "finish", "run_one", "run_trials"]
