"""Fused searches: whether a search's trials can share one fused group.

The trial runner (:mod:`kd_automl.orchestrate.runner`) trains them as one group of k,
refilled from the study whenever a slot is free (at an epoch's end: a member was pruned,
diverged or finished). Every member is its own Optuna trial and its own row in the store,
with its curve and result, exactly as an unfused trial.
"""

from __future__ import annotations

from kd_automl.engine.fused import MEMBER_TRAIN_FIELDS, fusable_method, group_key
from kd_automl.engine.fused_students import NotFusable
from kd_automl.spec import ExperimentSpec, resolve_key


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


__all__ = ["fuse_blocker", "group_key", "NotFusable"]
