"""The Optuna backend's study: open the storage, load the study (its sampler seeded per worker
and run, its spec checked against the one it was created with), and the work queue every
process of the study shares. :mod:`~kd_automl.orchestrate.optuna.prepare` readies it for a
run, :mod:`~kd_automl.orchestrate.optuna.source` runs its trials.

>>> study = load_study(spec, "digits-kd", "sqlite:///runs/kd_automl.db")     # doctest: +SKIP
>>> queue = work_queue(study, ws, 8)                                         # doctest: +SKIP
"""

from __future__ import annotations

import warnings

import optuna
from pydantic import ValidationError

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.heartbeat import heartbeat_kwargs, interval_s, reap_stale
from kd_automl.orchestrate.work_queue import WorkQueue
from kd_automl.search.strategy import build_pruner, build_sampler
from kd_automl.spec import ExperimentSpec
from kd_automl.store.db import schema_lock
from kd_automl.workspace import Workspace

TARGET_ATTR = "kd_automl_target"  # finished trials the running study is asked for


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


def work_queue(study: optuna.Study, ws: Workspace, target: int) -> WorkQueue:
    """The queue every process of one study shares: a lock file in the workspace, or on
    PostgreSQL an advisory lock (so workers on other machines share it too)."""
    from kd_automl.store.optuna_tables import shared_lock

    return WorkQueue(study, target, ws.root / "locks" / f"{study.study_name}.lock",
                     reap=reap_stale, lock=shared_lock(study), reap_every_s=interval_s())
