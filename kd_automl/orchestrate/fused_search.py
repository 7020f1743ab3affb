"""Fused Optuna searches: one group of k trials trained in one step, refilled as trials end.

The group asks the study for a trial whenever a slot is free (at an epoch's
end: a member was pruned, diverged or finished), so it stays full until the
study has its trials. Every member is its own Optuna trial and its own row in
the store, with its curve and result, exactly as an unfused trial.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import optuna

from kd_automl.engine import TrialResult
from kd_automl.engine.fused import MEMBER_TRAIN_FIELDS, FusedGroup, fusable_method, group_key
from kd_automl.engine.fused_students import NotFusable
from kd_automl.errors import KDAutoMLError
from kd_automl.spec import ExperimentSpec, apply_params, resolve_key
from kd_automl.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

def fuse_blocker(spec: ExperimentSpec) -> str | None:
    """Why the trials of ``spec``'s search cannot share one fused group (``None``: they can)."""
    reason = fusable_method(spec.method.name)
    if reason:
        return reason
    for key in spec.search:
        path = resolve_key(spec, key)
        section, _, field = path.partition(".")
        if section == "method" and field and "." not in field and field != "name":
            continue  # a method hyperparameter
        if section == "train" and field in MEMBER_TRAIN_FIELDS:
            if field == "seed" or spec.teacher is None or spec.teacher_train is not None:
                continue
            return (f"the search varies {path} and the spec has no teacher_train, so each "
                    "trial trains its own teacher (set teacher_train to share one)")
        return (f"the search varies {path}, which the members of a fused group share "
                "(only method hyperparameters and the train recipe may differ)")
    return None


def run_fused(study: optuna.Study, spec: ExperimentSpec, store: Store, experiment_id: int,
              workspace: Workspace, capacity: int, claim: Callable[[bool], bool],
              on_trial: Callable | None = None, **begin_kwargs) -> None:
    """Run trials of ``study`` as one fused group of ``capacity`` until ``claim`` says stop.

    ``claim(wait)`` grants one more trial; ``wait=False`` is used while the
    group still trains members, so it never waits for trials that this process
    itself runs. ``begin_kwargs`` go to :func:`begin_trial` (work queue, heartbeat).
    Any interruption closes every running member as interrupted, then propagates.
    """
    from kd_automl.orchestrate.optuna_study import (
        OptunaReporter,
        TrialEvent,
        abandon_trial,
        begin_trial,
        end_trial,
    )

    group = FusedGroup(spec, workspace, capacity)  # NotFusable: nothing was asked yet
    running: dict[int, object] = {}

    def next_member():
        while claim(not running):
            asked = begin_trial(study, spec, store, experiment_id, **begin_kwargs)
            number = asked.trial.number
            running[number] = asked
            try:
                trial_spec = apply_params(spec, asked.params, source=f"trial {number}")
            except KDAutoMLError as err:  # the sampled point is not a valid spec
                on_done(number, TrialResult(status="failed", error=str(err)))
                continue
            return number, trial_spec, OptunaReporter.for_spec(asked.trial, spec)
        return None

    def on_done(number: int, result: TrialResult) -> None:
        asked = running.pop(number)
        end_trial(study, spec, store, asked, result)
        if on_trial:
            on_trial(TrialEvent(number, "search", asked.params, result))

    try:
        group.run(next_member, on_done)
    except BaseException:
        for asked in running.values():
            abandon_trial(study, store, asked)
        raise


__all__ = ["fuse_blocker", "group_key", "run_fused", "NotFusable"]
