"""One study's preparation for a run, shared by every launcher (``run_study``, ``--slurm``,
``--ray``): load (or create) the study, register its experiment in the store, fail and
retry the trials a run that died left RUNNING, enqueue the trials a stop interrupted, and
set the number of finished trials this run works towards (workers that join read it).

>>> ready = prepare_study(spec, 8, store, ws)                     # doctest: +SKIP
>>> ready.study_name, ready.before, ready.target, ready.continued  # doctest: +SKIP
('digits-kd', 4, 12, [])
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import optuna

from kd_automl.orchestrate.continue_interrupted import continue_interrupted
from kd_automl.orchestrate.heartbeat import reap_stale
from kd_automl.orchestrate.optuna.study import TARGET_ATTR, load_study
from kd_automl.orchestrate.work_queue import finished_count
from kd_automl.spec import ExperimentSpec
from kd_automl.store import Store
from kd_automl.workspace import Workspace


@dataclass
class PreparedStudy:
    """A study ready for a run of ``target - before`` more finished trials."""

    study: optuna.Study
    study_name: str
    experiment_id: int  # its experiment in the store
    before: int  # finished trials when the run began
    first: int  # trials the study held (any state, the retries enqueued included)
    target: int  # before + the run's trials: what its workers work towards
    continued: list[str]  # one line per interrupted trial enqueued again


def study_name_for(spec: ExperimentSpec, study_name: str | None, fresh: bool) -> str:
    """The study's name: ``study_name`` or the spec's; ``fresh`` adds a timestamp."""
    name = study_name or spec.name
    return f"{name}-{datetime.now():%Y%m%d-%H%M%S}" if fresh else name


def prepare_study(spec: ExperimentSpec, n_trials: int, store: Store, workspace: Workspace, *,
                  storage_url: str | None = None, study_name: str | None = None,
                  fresh: bool = False) -> PreparedStudy:
    """Ready the study of ``spec`` in ``storage_url`` (default: the store's database) for
    ``n_trials`` more finished trials; its heartbeats fail lost trials in ``store``."""
    name = study_name_for(spec, study_name, fresh)
    study = load_study(spec, name, storage_url or store.url, store_url=store.url)
    exp_id = store.experiment(spec, "optuna", name=name, study_name=name)
    reap_stale(study)  # trials left RUNNING by a run that died
    continued = continue_interrupted(study, spec, store, workspace, name)
    before, first = finished_count(study), len(study.get_trials(deepcopy=False))
    study.set_user_attr(TARGET_ATTR, before + n_trials)  # for `optuna worker` to join
    return PreparedStudy(study, name, exp_id, before, first, before + n_trials, continued)
