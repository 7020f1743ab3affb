"""Recording trials in the store, the same for every backend (Optuna, NNI, NNI's trial entry).

The checks before a search starts, the student-alone baseline, running one sampled point,
and one stored trial from its start to its result, through the trial runner
(:mod:`kd_automl.orchestrate.runner`): a trial stopped halfway (Ctrl-C, a signal, a store
error) is stored as failed ("interrupted"), never left running.

>>> check_before_search(spec)                                      # doctest: +SKIP
>>> run_baseline(spec, store, experiment_id, workspace)            # doctest: +SKIP
>>> run_study_baseline(spec, study_name, db_url, workspace_root)   # doctest: +SKIP
>>> trial_id, result = record_trial(store, experiment_id, "7", params,
...                       lambda: run_sampled(spec, params, workspace))   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kd_automl.engine import NullReporter, Reporter, TrialResult, run_trial
from kd_automl.engine.trial import StudentSink
from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.runner import (
    PlannedTrial,
    TrialCallback,
    TrialEvent,
    finish,
    run_one,
)
from kd_automl.spec import ExperimentSpec, apply_params
from kd_automl.store import Store
from kd_automl.workspace import Workspace


def check_before_search(spec: ExperimentSpec) -> None:
    """The checks every backend runs before its first trial: something to search, and the
    dataset in place (one clear error, rather than N failed trials)."""
    from kd_automl.data import ensure_available

    if not spec.search:
        raise KDAutoMLError(f"spec {spec.name!r} has an empty 'search' section: nothing to tune")
    ensure_available(spec.dataset.name, spec.dataset.options)


def run_sampled(spec: ExperimentSpec, params: dict[str, Any], workspace: Workspace,
                reporter: Reporter | None = None, source: str = "trial",
                on_student: StudentSink | None = None) -> TrialResult:
    """Run ``spec`` with the sampled ``params`` written in; a point that is not a valid spec
    (or a trial's own clear error) is a failed result, not an exception. ``on_student``
    hears the trained student of a trial that completed."""
    try:
        trial_spec = apply_params(spec, params, source=source)
        return run_trial(trial_spec, workspace, reporter or NullReporter(),
                         on_student=on_student)
    except KDAutoMLError as err:
        return TrialResult(status="failed", error=str(err))


def record_trial(store: Store, experiment_id: int, backend_trial_id: str | int,
                 params: dict[str, Any], run: Callable[[], TrialResult], *,
                 role: str = "search", method: str | None = None,
                 extra: dict[str, Any] | None = None) -> tuple[int, TrialResult]:
    """Open the stored trial, ``run()`` it and store its result (with ``extra``); returns
    the store's trial id and the result. Stopped halfway, the trial is stored as failed
    ("interrupted") and the stop goes on."""
    trial = PlannedTrial(backend_trial_id, None, params, role=role, method=method,
                         extra=dict(extra or {}), run=run)
    result = run_one(trial, store, experiment_id)
    return trial.store_id, result


def run_baseline(spec: ExperimentSpec, store: Store, experiment_id: int, workspace: Workspace,
                 on_trial: TrialCallback | None = None) -> TrialResult | None:
    """Train the student alone (method ``ce``) once per experiment, for the KD-gain column;
    None when the experiment has its baseline already."""
    if store.trials([experiment_id], role="baseline", states=["complete"]):
        return None
    base_spec = apply_params(spec, {"method": {"_name": "ce"}}, source="baseline")
    _, result = record_trial(store, experiment_id, "baseline", {},
                          lambda: run_trial(base_spec, workspace), role="baseline", method="ce")
    if on_trial:
        on_trial(TrialEvent("baseline", "baseline", {}, result))
    return result


def run_study_baseline(spec: ExperimentSpec, study_name: str, db: str,
                       workspace: str | None) -> TrialResult | None:
    """:func:`run_baseline` for the experiment of Optuna study ``study_name`` in the store at
    ``db``, as a worker of a cluster runs it (a Slurm task, a Ray actor): its own store."""
    store = Store(db)
    try:
        exp_id = store.experiment(spec, "optuna", name=study_name, study_name=study_name)
        return run_baseline(spec, store, exp_id, Workspace.resolve(workspace))
    finally:
        store.dispose()


__all__ = ["TrialCallback", "TrialEvent", "check_before_search", "finish", "record_trial",
           "run_baseline", "run_sampled", "run_study_baseline"]
