"""Confirming a search's winners: its top K trials and two controls re-trained over S seeds.

A search picks its winners on one seed; their gains over the controls are often inside the
seed-to-seed noise. ``run_confirm`` re-trains, on each of S fresh seeds, the K best trials
(by the objective the search optimised) and two controls: the student alone (method
``ce``) and plain KD at its defaults (method ``kd`` with no options), both with the spec's
own training recipe. A confirm seed ``s`` sets the spec's ``seed`` (data split, teacher
and batch order) and ``train.seed`` (the student's initialisation) to ``s``; the seeds are
``spec.seed + 1 .. spec.seed + S``, never the seed the winners were selected on.

Every run is a stored trial of the experiment with role ``confirm`` and
``extra["confirm"] = {"source", "source_id", "seed", "control"}``; a rerun skips what is
stored complete. Runs that share a fused group's key train as one fused group.

>>> summary = run_confirm("digits-kd", top=2, seeds=3)      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kd_automl.engine import TrialResult
from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.runner import PlannedList, PlannedTrial, TrialEvent, run_trials
from kd_automl.spec import ExperimentSpec, apply_params, parse_spec
from kd_automl.store import ExperimentRecord, Store, TrialRecord
from kd_automl.workspace import Workspace

ROLE = "confirm"
ALONE, PLAIN_KD = "alone", "kd"  # the controls' sources


@dataclass
class ConfirmJob:
    """One (source, seed) run: a top trial or a control, on one confirm seed."""

    source: str  # the source trial's backend id, or ALONE / PLAIN_KD
    seed: int
    spec: ExperimentSpec
    params: dict[str, Any]
    source_id: int | None = None  # the source trial's store id
    control: str | None = None  # ALONE, PLAIN_KD, or None for a top trial

    @property
    def backend_trial_id(self) -> str:
        return f"confirm-{self.source}-seed{self.seed}"

    @property
    def method(self) -> str | None:
        return {ALONE: "ce", PLAIN_KD: "kd"}.get(self.control or "")

    @property
    def extra(self) -> dict[str, Any]:
        return {"confirm": {"source": self.source, "source_id": self.source_id,
                            "seed": self.seed, "control": self.control}}


@dataclass
class ConfirmSummary:
    experiment: str
    seeds: list[int]
    sources: list[str]  # the confirmed trials' backend ids
    run: int = 0  # runs trained now
    skipped: int = 0  # runs already stored complete
    failed: int = 0
    notes: list[str] = field(default_factory=list)


def confirm_seeds(spec: ExperimentSpec, n: int) -> list[int]:
    """The ``n`` confirm seeds: the ones after the spec's (the search's own seed is left out,
    so the winners are judged on seeds they were not selected on)."""
    return [spec.seed + i for i in range(1, n + 1)]


def pick_experiment(store: Store, name: str | None) -> ExperimentRecord:
    """The experiment ``name`` (one clear error when unknown or ambiguous), else the latest."""
    if name is None:
        exps = store.experiments()
        if not exps:
            raise KDAutoMLError(f"no experiments in {store.display_url} to confirm")
        return exps[-1]
    exps = store.experiments([name], require=True)
    if len(exps) > 1:
        raise KDAutoMLError(f"experiment name {name!r} is used by several backends "
                            f"({', '.join(e.backend for e in exps)}); rename one to confirm it")
    return exps[0]


def top_trials(store: Store, exp: ExperimentRecord, k: int) -> list[TrialRecord]:
    """The ``k`` best complete search trials by the experiment's objective (ties: lower id)."""
    done = [t for t in store.trials([exp.id], role="search", states=["complete"])
            if t.objective is not None]
    sign = -1.0 if exp.maximize else 1.0
    return sorted(done, key=lambda t: (sign * t.objective, t.id))[:k]


def _seeded(spec: ExperimentSpec, seed: int) -> ExperimentSpec:
    """``spec`` on confirm seed ``seed``: split, teacher, batch order and init all move."""
    return spec.model_copy(update={"seed": seed,
                                   "train": spec.train.model_copy(update={"seed": seed})})


def plan(spec: ExperimentSpec, tops: list[TrialRecord], seeds: list[int]) -> list[ConfirmJob]:
    """Every (source, seed) run: the top trials, then the controls (plain KD only where the
    spec has a teacher)."""
    jobs = []
    for seed in seeds:
        for t in tops:
            trial_spec = apply_params(spec, t.params, source=f"trial {t.backend_trial_id}")
            jobs.append(ConfirmJob(t.backend_trial_id, seed, _seeded(trial_spec, seed),
                                   t.params, source_id=t.id))
        controls = [(ALONE, "ce")] + ([(PLAIN_KD, "kd")] if spec.teacher is not None else [])
        for source, method in controls:
            control = apply_params(spec, {"method": {"_name": method}}, source=source)
            jobs.append(ConfirmJob(source, seed, _seeded(control, seed), {}, control=source))
    return jobs


def _stored_complete(store: Store, exp: ExperimentRecord) -> set[str]:
    return {t.backend_trial_id for t in store.trials([exp.id], role=ROLE, states=["complete"])}


Groups = list[list[ConfirmJob]]


def _groups(jobs: list[ConfirmJob]) -> Groups:
    """The jobs by fused-group key (what fused members must share), in plan order."""
    from kd_automl.engine.fused import group_key

    out: dict[str, list[ConfirmJob]] = {}
    for job in jobs:
        out.setdefault(group_key(job.spec), []).append(job)
    return list(out.values())


def run_confirm(experiment: str | None = None, top: int = 3, seeds: int = 3, *,
                fuse: int | None = None, workspace: str | Path | None = None,
                db: str | None = None, threads: int | None = None,
                on_trial: Callable[[TrialEvent], None] | None = None) -> ConfirmSummary:
    """Re-train the ``top`` best trials of ``experiment`` (default: the latest) and the
    controls on ``seeds`` confirm seeds, storing each run; runs stored complete are skipped.

    ``fuse`` (default: the experiment's spec's ``fuse``): runs that can share a fused
    group train ``fuse`` at a time; the others one at a time, with one line saying why.
    """
    from kd_automl.orchestrate.threads import set_trial_threads

    if top < 1 or seeds < 1:
        raise KDAutoMLError("--top and --seeds must be >= 1")
    if fuse is not None and fuse < 1:
        raise KDAutoMLError("--fuse must be >= 1")
    ws = Workspace.resolve(workspace)
    store = Store(db or ws.db_url)
    try:
        exp = pick_experiment(store, experiment)
        spec = parse_spec(exp.spec, source=f"experiment {exp.name!r}")
        tops = top_trials(store, exp, top)
        if not tops:
            raise KDAutoMLError(f"experiment {exp.name!r} has no completed search trial to "
                                "confirm")
        seed_list = confirm_seeds(spec, seeds)
        jobs = plan(spec, tops, seed_list)
        done = _stored_complete(store, exp)
        todo = [j for j in jobs if j.backend_trial_id not in done]
        summary = ConfirmSummary(exp.name, seed_list, [t.backend_trial_id for t in tops],
                                 skipped=len(jobs) - len(todo))
        set_trial_threads(1, threads)
        fuse = fuse or spec.fuse
        for group in _groups(todo):  # fused when fuse > 1 and they can be, else one by one
            run_trials(_ConfirmSource(group, summary), store, exp.id, ws,
                       fuse=min(fuse, len(group)), on_trial=on_trial, notes=summary.notes)
        return summary
    finally:
        store.dispose()


class _ConfirmSource(PlannedList):
    """One group's jobs for the runner, counted in the summary as they end."""

    def __init__(self, group: list[ConfirmJob], summary: ConfirmSummary):
        super().__init__([PlannedTrial(j.backend_trial_id, j.spec, j.params, role=ROLE,
                                       method=j.method, extra=j.extra, handle=j)
                          for j in group])
        self.summary = summary

    def done(self, trial: PlannedTrial, result: TrialResult) -> None:
        self.summary.run += 1
        self.summary.failed += result.status != "complete"


__all__ = ["ConfirmJob", "ConfirmSummary", "confirm_seeds", "plan", "run_confirm",
           "top_trials"]
