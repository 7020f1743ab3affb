"""Final training: one configuration trained to the end over seeds, no search.

After a short search, the winner is trained once more at the full budget. ``run_final``
takes a spec (typically one ``kd-automl export`` wrote: the trial's spec with its parameters
written in and no ``search``), optionally sets ``train.epochs`` (scaling the schedule's
epoch-valued settings with it, :func:`scale_epochs`), and trains it on ``seeds`` seeds:
``spec.seed``, ``spec.seed + 1``, ... The first run is exactly the spec as given, so an
exported spec retrains the student its search trial trained; each later one moves the data
split, teacher, batch order and initialisation with its seed (as ``confirm`` does).

Every run is a stored trial with role ``final`` in the experiment named like the spec (the
search that found it; the newest of that name, any backend), else in a new one (backend
``train``). Its backend id names the configuration, the seed and the epochs
(``final-<config>-s<seed>-e<epochs>``), so a rerun of the same training is the same row
(skipped when stored complete, unless ``force``) and a different ``epochs`` is a new one.
``extra["final"]`` records what it was: seed, epochs, the configuration's hash, the spec
itself, the experiment, and the search trial it retrains when one matches. Its weights are
kept (the runner's artifacts policy always keeps ``final`` runs unless ``keep: none``).

>>> summary = run_final("export/spec.yaml", epochs=40, seeds=3)    # doctest: +SKIP
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.runner import PlannedList, PlannedTrial, TrialEvent, run_trials
from kd_automl.results import TrialResult
from kd_automl.spec import ExperimentSpec, _set_path, load_spec, resolve_key
from kd_automl.store import ExperimentRecord, Store, TrialRecord
from kd_automl.workspace import Workspace

ROLE = "final"
BACKEND = "train"  # the backend of an experiment made for final runs without a search
# fields that do not change what is trained: left out of a configuration's hash
NOT_TRAINING = ("name", "search", "sampler", "pruner", "fuse", "artifacts")
# method hyperparameters counted in epochs (scaled with train.epochs when the method has them)
EPOCH_OPTIONS = ("warmup", "lambda_epochs")


# -- the spec ------------------------------------------------------------------------------

def _scaled(value: int, ratio: float, epochs: int) -> int:
    """``value`` epochs scaled by ``ratio``, rounded half up, kept inside 1..epochs-1."""
    return max(1, min(epochs - 1, math.floor(value * ratio + 0.5)))


def scale_epochs(spec: ExperimentSpec, epochs: int) -> tuple[ExperimentSpec, list[str]]:
    """``spec`` trained for ``epochs`` epochs, and a line for each setting that moved.

    ``train.milestones`` and the method's epoch-valued hyperparameters (DKD's ``warmup``,
    CTKD's ``lambda_epochs``; their defaults included) scale by ``epochs / train.epochs``,
    rounded, each kept inside ``1..epochs-1`` (a zero stays zero: off); with ``epochs == 1``
    milestones are dropped. A spec without ``teacher_train`` gets its old ``train`` as
    ``teacher_train``, so the teacher stays the one the search distilled from (and cached).
    """
    if epochs < 1:
        raise KDAutoMLError("--epochs must be >= 1")
    old = spec.train.epochs
    if epochs == old:
        return spec, []
    ratio = epochs / old
    notes = [f"train.epochs: {old} -> {epochs}"]
    milestones = [] if epochs == 1 else sorted(_scaled(m, ratio, epochs)
                                               for m in spec.train.milestones)
    if milestones != spec.train.milestones:
        notes.append(f"train.milestones: {spec.train.milestones} -> {milestones}")
    data = spec.to_dict()
    data["train"].update(epochs=epochs, milestones=milestones)
    if spec.teacher is not None and spec.teacher_train is None:
        data["teacher_train"] = spec.train.model_dump(mode="json")
        notes.append(f"teacher_train: the spec's train ({old} epochs), so the teacher stays "
                     "the same")
    from kd_automl.distill import get_method

    declared = get_method(spec.method.name).hyperparameters
    for name in EPOCH_OPTIONS:
        if name not in declared:
            continue
        value = spec.method.options.get(name, declared[name].default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            continue
        new = _scaled(value, ratio, epochs)
        if new != value:
            data["method"][name] = new
            notes.append(f"method.{name}: {value:g} -> {new}")
    try:
        return ExperimentSpec.model_validate(data), notes
    except ValidationError as err:  # not expected: every scaled value is inside its bounds
        raise KDAutoMLError(f"--epochs {epochs}: {err}") from None


def seeded(spec: ExperimentSpec, offset: int) -> ExperimentSpec:
    """``spec`` moved ``offset`` seeds on: ``seed`` (split, teacher, batch order) and
    ``train.seed`` (the init; None follows ``seed``). ``offset == 0``: ``spec`` itself."""
    if offset == 0:
        return spec
    train_seed = None if spec.train.seed is None else spec.train.seed + offset
    return spec.model_copy(update={"seed": spec.seed + offset, "train": spec.train.model_copy(
        update={"seed": train_seed})})


def _training_fields(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k not in NOT_TRAINING}
    for section in ("train", "teacher_train"):  # how often to checkpoint trains nothing
        if isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if k != "checkpoint_every"}
    return out


def config_hash(spec: ExperimentSpec) -> str:
    """The SHA-256 of what ``spec`` trains (its name, search, search settings and checkpoint
    interval left out)."""
    text = json.dumps(_training_fields(spec.to_dict()), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- where the runs go ---------------------------------------------------------------------

def pick_experiment(store: Store, spec: ExperimentSpec, name: str | None
                    ) -> ExperimentRecord | None:
    """The experiment ``name`` (one clear error when unknown), else the newest named like the
    spec (any backend); None when there is none."""
    if name is not None:
        exps = store.experiments([name], require=True)
    else:
        exps = store.experiments([spec.name])
    if not exps:
        return None
    exp = exps[-1]  # oldest first: the newest
    if exp.dataset != spec.dataset.name:
        raise KDAutoMLError(f"experiment {exp.name!r} is on dataset {exp.dataset!r} but the "
                            f"spec on {spec.dataset.name!r}; pass --experiment NAME or rename "
                            "the spec")
    return exp


def source_trial(store: Store, exp: ExperimentRecord, spec: ExperimentSpec
                 ) -> TrialRecord | None:
    """The experiment's completed search trial whose configuration is ``spec``'s (its
    parameters written into the experiment's spec), or None."""
    wanted = _training_fields(spec.to_dict())
    for t in store.trials([exp.id], role="search", states=["complete"]):
        data = copy.deepcopy(exp.spec)
        try:
            base = ExperimentSpec.model_validate(data)
            for key, value in t.params.items():
                _set_path(data, resolve_key(base, key), value, "")
            trial_spec = ExperimentSpec.model_validate(data)
        except (KDAutoMLError, ValidationError):
            continue
        if _training_fields(trial_spec.to_dict()) == wanted:
            return t
    return None


# -- the plan ------------------------------------------------------------------------------

@dataclass
class FinalJob:
    """One run: the configuration on one seed."""

    spec: ExperimentSpec
    seed: int
    epochs: int
    config: str  # the configuration's SHA-256 (the spec before its seeds moved)

    @property
    def backend_trial_id(self) -> str:
        return f"final-{self.config[:8]}-s{self.seed}-e{self.epochs}"


def plan(spec: ExperimentSpec, seeds: int) -> list[FinalJob]:
    """The ``seeds`` runs of ``spec`` (already scaled): seeds ``spec.seed`` and on."""
    if seeds < 1:
        raise KDAutoMLError("--seeds must be >= 1")
    config = config_hash(spec)
    return [FinalJob(seeded(spec, i), spec.seed + i, spec.train.epochs, config)
            for i in range(seeds)]


@dataclass
class FinalSummary:
    experiment: str
    backend: str
    created: bool  # the experiment was made for these runs (no search of that name)
    jobs: list[FinalJob]
    source: str | None  # the search trial's backend id it retrains, when one matched
    run: int = 0
    skipped: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def trial_ids(self) -> list[str]:
        return [j.backend_trial_id for j in self.jobs]


class FinalProgress:
    """What a display hears (every method optional): a run starts, an epoch ends, it ends."""

    def start(self, job: FinalJob) -> None:
        pass

    def epoch(self, job: FinalJob, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def done(self, job: FinalJob, result: TrialResult) -> None:
        pass


class _EpochReporter:
    """Passes each epoch to the display; never prunes."""

    def __init__(self, job: FinalJob, progress: FinalProgress):
        self.job, self.progress = job, progress

    def report_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.progress.epoch(self.job, epoch, metrics)

    def report_final(self, result: TrialResult) -> None:
        pass


class _FinalSource(PlannedList):
    def __init__(self, trials: list[PlannedTrial], summary: FinalSummary,
                 progress: FinalProgress):
        super().__init__(trials)
        self.summary, self.progress = summary, progress

    def opened(self, trial: PlannedTrial) -> None:
        self.progress.start(trial.handle)

    def done(self, trial: PlannedTrial, result: TrialResult) -> None:
        self.summary.run += 1
        self.summary.failed += result.status != "complete"
        self.progress.done(trial.handle, result)


def prepare(spec: ExperimentSpec | str | Path, epochs: int | None
            ) -> tuple[ExperimentSpec, ExperimentSpec, list[str]]:
    """The spec as given (search dropped) and as trained (``epochs`` set), and notes."""
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    notes = []
    if spec.search:
        notes.append(f"the spec has a 'search' section ({len(spec.search)} key(s)); "
                     "training its fixed values, no search")
        spec = spec.model_copy(update={"search": {}})
    trained, scaled = scale_epochs(spec, epochs) if epochs is not None else (spec, [])
    if scaled:
        notes.append(f"--epochs {epochs}: " + "; ".join(scaled))
    return spec, trained, notes


def run_final(spec: ExperimentSpec | str | Path, *, epochs: int | None = None, seeds: int = 1,
              experiment: str | None = None, force: bool = False,
              workspace: str | Path | None = None, db: str | None = None,
              threads: int | None = None, progress: FinalProgress | None = None,
              on_trial: Callable[[TrialEvent], None] | None = None,
              on_note: Callable[[str], None] | None = None) -> FinalSummary:
    """Train ``spec`` on ``seeds`` seeds (``epochs``: its new ``train.epochs``), storing each
    run with role ``final``; runs stored complete are skipped unless ``force``. ``progress``
    hears each run start, its epochs and its end; ``on_note`` each line about what was
    changed or found (also in the summary's ``notes``)."""
    from kd_automl.data import ensure_available
    from kd_automl.orchestrate import signals
    from kd_automl.orchestrate.threads import set_trial_threads

    if seeds < 1:
        raise KDAutoMLError("--seeds must be >= 1")
    given, trained, notes = prepare(spec, epochs)
    jobs = plan(trained, seeds)
    ensure_available(trained.dataset.name, trained.dataset.options)
    ws = Workspace.resolve(workspace)
    store = Store(db or ws.db_url)
    try:
        exp = pick_experiment(store, given, experiment)
        created = exp is None
        if created:
            exp_id = store.experiment(given, BACKEND)
            exp = next(e for e in store.experiments([given.name]) if e.id == exp_id)
        source = None if created else source_trial(store, exp, given)
        summary = FinalSummary(exp.name, exp.backend, created, jobs,
                               None if source is None else source.backend_trial_id,
                               notes=notes)
        for line in notes:
            if on_note is not None:
                on_note(line)
        done = set() if force else {t.backend_trial_id for t in store.trials(
            [exp.id], role=ROLE, states=["complete"])}
        todo = [j for j in jobs if j.backend_trial_id not in done]
        summary.skipped = len(jobs) - len(todo)
        progress = progress or FinalProgress()
        base = {"epochs": trained.train.epochs, "config": jobs[0].config,
                "experiment": exp.name,
                "source_trial": None if source is None else source.backend_trial_id,
                "source_id": None if source is None else source.id}
        params = {} if source is None else source.params  # shown as its hyperparameters
        trials = [PlannedTrial(j.backend_trial_id, j.spec, params, role=ROLE,
                               method=j.spec.method.name,
                               reporter=_EpochReporter(j, progress), handle=j,
                               extra={"final": {**base, "seed": j.seed,
                                                "spec": j.spec.to_dict()}})
                  for j in todo]
        if trials:
            set_trial_threads(1, threads)
            with signals.handled():
                run_trials(_FinalSource(trials, summary, progress), store, exp.id, ws,
                           on_trial=on_trial, notes=summary.notes)
        return summary
    finally:
        store.dispose()


__all__ = ["BACKEND", "EPOCH_OPTIONS", "ROLE", "FinalJob", "FinalProgress", "FinalSummary",
           "config_hash", "pick_experiment", "plan", "prepare", "run_final", "scale_epochs",
           "seeded", "source_trial"]
