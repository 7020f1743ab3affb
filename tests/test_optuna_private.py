"""Optuna's private parts, each held to what kd-automl relies on against the installed Optuna
(an upgrade that moves one fails here, not in a search), and used from one module only."""

from __future__ import annotations

import re
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from kd_automl.store import optuna_private as private

PACKAGE = Path(__file__).resolve().parents[1] / "kd_automl"
# nni.trial._trial_id is NNI's (trials/nni_state.py resets NNI's globals), not Optuna's
PRIVATE = re.compile(r"\._storage\b|\._study_id\b|(?<!nni\.trial)\._trial_id\b|"
                     r"_get_stale_trial_ids|"
                     r"_tell_with_warning|_get_latest_trial|_n_warmup_steps|storages\._rdb|"
                     r"[\"']_backend[\"']")


@pytest.fixture
def sqlite_study(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'o.db'}",
                                         heartbeat_interval=1, grace_period=1)
    return optuna.create_study(study_name="s", storage=storage, direction="maximize")


def test_ids_and_storage_are_the_ones_optuna_keeps(sqlite_study):
    study = sqlite_study
    storage = private.storage_of(study)
    assert private.study_id(study) == storage.get_study_id_from_name("s")
    trial = study.ask()
    assert storage.get_trial(private.trial_id(trial)).number == trial.number
    assert isinstance(private.backend_of(storage), optuna.storages.RDBStorage)
    assert private.backend_of(storage).engine is not None  # the engine our SQL runs on


def test_a_trial_without_a_fresh_heartbeat_is_stale(sqlite_study):
    study = sqlite_study
    storage = private.storage_of(study)
    beating, silent = study.ask(), study.ask()
    storage.record_heartbeat(private.trial_id(silent))
    time.sleep(2.2)  # past the 1 s grace
    storage.record_heartbeat(private.trial_id(beating))
    assert private.stale_trial_ids(study) == [private.trial_id(silent)]


def test_the_rdb_models_name_optuna_s_tables():
    models = private.rdb_models()
    assert models.TrialModel.__tablename__ == "trials"
    assert {"trial_id", "study_id", "state"} <= set(models.TrialModel.__table__.c.keys())
    assert models.TrialIntermediateValueModel.stored_repr_to_intermediate_value(
        1.5, models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE) == 1.5


def test_the_latest_trial_is_the_trial_as_stored(sqlite_study):
    trial = sqlite_study.ask()
    trial.report(0.5, step=3)
    latest = private.latest_trial(trial)
    assert latest is not None and latest().last_step == 3


def test_a_pruner_s_warmup_is_read():
    assert private.warmup_steps(optuna.pruners.MedianPruner(n_warmup_steps=4)) == 4
    assert private.warmup_steps(optuna.pruners.PercentilePruner(25.0)) == 0
    assert private.warmup_steps(optuna.pruners.NopPruner()) == 0


def test_a_quiet_tell_finishes_the_trial(sqlite_study):
    study = sqlite_study
    done, pruned = study.ask(), study.ask()
    assert private.tell_quietly(study, done, 0.9, None)
    assert private.tell_quietly(study, pruned, None, TrialState.PRUNED)
    states = {t.number: (t.state, t.value) for t in study.get_trials()}
    assert states == {0: (TrialState.COMPLETE, 0.9), 1: (TrialState.PRUNED, None)}


def test_no_other_module_reaches_into_optuna():
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if p.name != "optuna_private.py" and PRIVATE.search(p.read_text()))
    assert users == []
