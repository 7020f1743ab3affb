"""``prepare_study``, the one preparation of every launcher, on a real SQLite study and store:
a run after one that died reaps the trial it left RUNNING, enqueues the one a stop
interrupted, and sets the target to the finished trials before it plus its own."""

import sqlite3

import optuna
import pytest
from conftest import TINY
from optuna.trial import TrialState

from kd_automl.orchestrate.continue_interrupted import CONTINUES
from kd_automl.orchestrate.heartbeat import LOST
from kd_automl.orchestrate.optuna.prepare import prepare_study
from kd_automl.orchestrate.optuna.study import TARGET_ATTR
from kd_automl.orchestrate.runner import INTERRUPTED
from kd_automl.search import suggest_params
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.store.optuna_private import storage_of, trial_id
from kd_automl.workspace import Workspace


def _ask(study, spec, store, exp_id):
    """A trial as the runner opens one: asked, its row in the store, linked both ways."""
    trial = study.ask()
    params = suggest_params(trial, spec.search)
    trial.set_user_attr("kd_trial_id", store.start_trial(exp_id, trial.number, params))
    return trial, trial.user_attrs["kd_trial_id"], params


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_run_after_one_that_died_reaps_continues_and_targets_before_plus_n(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("KD_AUTOML_HEARTBEAT_S", "1")
    db_file = tmp_path / "kd.db"
    store = Store(f"sqlite:///{db_file}")
    ws = Workspace.resolve(tmp_path / "ws")
    spec = parse_spec({**TINY, "name": "prep"})

    ready = prepare_study(spec, 3, store, ws)
    assert (ready.study_name, ready.before, ready.first, ready.target) == ("prep", 0, 0, 3)
    assert ready.continued == [] and ready.study.user_attrs[TARGET_ATTR] == 3
    study, exp_id = ready.study, ready.experiment_id

    # the run: one trial finished, one stopped by Ctrl-C, one running when the run died
    done, _, _ = _ask(study, spec, store, exp_id)
    study.tell(done, 0.5)
    stopped, stopped_id, stopped_params = _ask(study, spec, store, exp_id)
    store.mark_failed(stopped_id, INTERRUPTED)
    stopped.set_user_attr("abandoned", INTERRUPTED)
    study.tell(stopped, state=TrialState.FAIL)
    lost, lost_id, lost_params = _ask(study, spec, store, exp_id)
    storage_of(study).record_heartbeat(trial_id(lost))  # it beat while it ran
    with sqlite3.connect(db_file) as db:  # its last beat, long before the process died
        db.execute("UPDATE trial_heartbeats SET heartbeat = '2000-01-01 00:00:00.000000'")

    again = prepare_study(spec, 2, store, ws)
    assert again.experiment_id == exp_id and again.study_name == "prep"
    trials = optuna.load_study(study_name="prep", storage=f"sqlite:///{db_file}").trials
    assert trials[lost.number].state == TrialState.FAIL  # reaped, in both stores
    assert store.trials_by_id([lost_id])[0].error == LOST
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    retries = [again.study.ask() for _ in waiting]  # what the run's workers ask for first
    assert sorted(map(str, (suggest_params(t, spec.search) for t in retries))) == \
        sorted(map(str, (lost_params, stopped_params)))  # each retried once, same point
    assert [t.user_attrs.get(CONTINUES) for t in retries].count(stopped.number) == 1
    assert len(again.continued) == 1 and f"trial {stopped.number}" in again.continued[0]
    assert again.before == 1  # the finished trial; interrupted and lost ones do not count
    assert again.first == len(trials) == 5
    assert again.target == 3 and again.study.user_attrs[TARGET_ATTR] == 3

    # a third run continues nothing twice; --fresh starts a study named apart
    assert prepare_study(spec, 0, store, ws).continued == []
    fresh = prepare_study(spec, 1, store, ws, fresh=True)
    assert fresh.study_name.startswith("prep-") and (fresh.before, fresh.target) == (0, 1)
    assert fresh.experiment_id != exp_id
    store.dispose()
