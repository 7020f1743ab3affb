"""A resumed Optuna search first retries the trials a stop interrupted.

A trial stopped by Ctrl-C or SIGTERM is FAIL in Optuna (``abandoned: interrupted``); if it
saved a checkpoint, that stays in the workspace (:mod:`kd_automl.engine.checkpoint`). On
resume, each such trial is enqueued once with its own parameters, ahead of new points; the
runner finds its checkpoint by the trial's spec, so training continues at the next epoch
(from epoch 0 when it left none). The retries are among the run's ``--trials``. (A trial
whose worker was lost is retried by the heartbeat's callback the same way.)

>>> lines = continue_interrupted(study, spec, store, workspace, "digits-kd")  # doctest: +SKIP
"""

from __future__ import annotations

import logging

import optuna
from optuna.trial import TrialState

from kd_automl.engine.checkpoint import STATE
from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.artifacts import checkpoint_dir
from kd_automl.orchestrate.runner import INTERRUPTED
from kd_automl.spec import ExperimentSpec, apply_params
from kd_automl.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)
CONTINUES = "kd_continues"  # user attr of an enqueued trial: the number it continues


def continue_interrupted(study: optuna.Study, spec: ExperimentSpec, store: Store,
                         workspace: Workspace, experiment: str) -> list[str]:
    """Enqueue the interrupted trials, each once; one line per trial."""
    trials = study.get_trials(deepcopy=False)
    continued = {t.user_attrs.get(CONTINUES) for t in trials}
    rows = {}
    lines = []
    for t in trials:
        if (t.state != TrialState.FAIL or t.user_attrs.get("abandoned") != INTERRUPTED
                or t.number in continued or "kd_trial_id" not in t.user_attrs):
            continue
        if not rows:
            rows = {r.id: r for r in store.trials(role="search", states=["failed"])}
        row = rows.get(t.user_attrs["kd_trial_id"])
        if row is None:
            continue
        try:
            trial_spec = apply_params(spec, row.params, source=f"trial {t.number}")
        except KDAutoMLError:
            continue
        saved = (checkpoint_dir(workspace, experiment, trial_spec) / STATE).is_file()
        study.enqueue_trial(t.params, user_attrs={CONTINUES: t.number})
        epoch = row.extra.get("checkpoint_epoch")
        lines.append(f"trial {t.number} was interrupted; a new trial retries it "
                     + (f"from its checkpoint{f' after epoch {epoch}' if epoch else ''}"
                        if saved else "from epoch 0 (it saved no checkpoint)"))
    for line in lines:
        log.warning("%s", line)
    return lines


__all__ = ["CONTINUES", "continue_interrupted"]
