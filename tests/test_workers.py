"""Worker processes share one study: distinct samples, a shared queue, heartbeats, threads."""

import time

import optuna
import pytest

from kd_automl.optuna import run_study
from kd_automl.orchestrate.heartbeat import LOST, reap_stale
from kd_automl.orchestrate.optuna.study import load_study
from kd_automl.orchestrate.threads import threads_per_trial, usable_cores
from kd_automl.orchestrate.work_queue import WorkQueue
from kd_automl.spec import parse_spec
from kd_automl.store import Store


def _points(study, numbers=None):
    return [tuple(sorted(t.params.items())) for t in study.trials
            if numbers is None or t.number in numbers]


@pytest.fixture
def one_epoch(tiny_spec_dict):
    tiny_spec_dict["train"]["epochs"] = 1
    return tiny_spec_dict


def test_four_workers_sample_distinct_points_with_split_threads(workspace, one_epoch):
    one_epoch["name"] = "distinct"
    summary = run_study(parse_spec(one_epoch), n_trials=32, workers=4, baseline=False)
    study = optuna.load_study(study_name="distinct", storage=summary.db)
    assert summary.trials_run == 32 and not summary.lost_workers
    assert len(set(_points(study))) == len(study.trials) == 32
    stored = [t for t in Store(summary.db).trials() if t.role == "search"]
    assert len(stored) == 32 and all(t.state == "complete" for t in stored)
    # four trials at once share the cores instead of each taking all of them
    assert {t.extra["torch_threads"] for t in stored} <= {max(1, usable_cores() // 4)}


def test_resumed_run_repeats_no_point_and_a_rerun_reproduces(workspace, one_epoch):
    spec = parse_spec({**one_epoch, "name": "resumed"})
    db = run_study(spec, n_trials=3, baseline=False).db
    run_study(spec, n_trials=3, baseline=False)
    study = optuna.load_study(study_name="resumed", storage=db)
    first, second = _points(study, {0, 1, 2}), _points(study, {3, 4, 5})
    assert len(set(first + second)) == 6
    run_study(spec, n_trials=3, baseline=False, study_name="again")  # same arguments
    assert _points(optuna.load_study(study_name="again", storage=db)) == first


def test_threads_split_among_concurrent_trials(monkeypatch):
    monkeypatch.delenv("KD_AUTOML_THREADS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    assert [threads_per_trial(n) for n in (1, 2, 3, 4, 16)] == [8, 4, 2, 2, 1]
    assert threads_per_trial(2, ceiling=3) == 3
    assert threads_per_trial(4, override=6) == 6
    monkeypatch.setenv("KD_AUTOML_CONCURRENT_TRIALS", "4")  # what an NNI trial is told
    assert threads_per_trial() == 2
    monkeypatch.setenv("KD_AUTOML_THREADS", "5")
    assert threads_per_trial(4) == 5


def _stale_study(tmp_path, monkeypatch, tiny_spec_dict, heartbeat: bool):
    """A study whose trial 0 is RUNNING in both stores with nobody running it."""
    monkeypatch.setenv("KD_AUTOML_HEARTBEAT_S", "1")
    db = f"sqlite:///{tmp_path / 'kd.db'}"
    spec = parse_spec({**tiny_spec_dict, "name": "stale"})
    store = Store(db)
    exp_id = store.experiment(spec, "optuna", name="stale", study_name="stale")
    study = load_study(spec, "stale", db, store_url=db if heartbeat else None)
    trial = study.ask()
    x = trial.suggest_float("method.alpha", 0.0, 1.0)
    kd_id = store.start_trial(exp_id, trial.number, {"method.alpha": x})
    trial.set_user_attr("kd_trial_id", kd_id)
    if heartbeat:
        study._storage.record_heartbeat(trial._trial_id)
    time.sleep(3.5)  # past the grace period (3 beats)
    return spec, db, store, kd_id, x


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_lost_trial_fails_in_both_stores_and_is_retried_once(tmp_path, monkeypatch,
                                                                tiny_spec_dict):
    spec, db, store, kd_id, x = _stale_study(tmp_path, monkeypatch, tiny_spec_dict, True)
    study = load_study(spec, "stale", db, store_url=db)  # another worker
    queue = WorkQueue(study, target=1, reap=reap_stale, poll_s=0.1)
    assert queue.claim()  # the lost trial no longer holds the only slot
    states = [t.state for t in study.get_trials()]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    assert store.trials_by_id([kd_id])[0].state == "failed"
    assert store.trials_by_id([kd_id])[0].error == LOST
    retry = study.ask()  # the retry comes back with the same parameters
    queue.asked()
    assert retry.number == 1 and retry.params == {"method.alpha": x}


def test_resuming_cleans_trials_left_running_by_an_older_run(tmp_path, monkeypatch,
                                                              tiny_spec_dict):
    spec, db, store, kd_id, _ = _stale_study(tmp_path, monkeypatch, tiny_spec_dict, False)
    run_study(spec, n_trials=0, db=db, workspace=tmp_path / "ws", baseline=False,
              study_name="stale")
    study = optuna.load_study(study_name="stale", storage=db)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert store.trials_by_id([kd_id])[0].error == LOST


def test_progress_is_one_plain_line_per_trial_when_not_a_terminal(capsys, workspace, one_epoch):
    import yaml

    from kd_automl.cli import main

    spec = workspace.parent / "plain.yaml"
    spec.write_text(yaml.safe_dump({**one_epoch, "name": "plain"}))
    with pytest.raises(SystemExit) as exit_info:
        main(["optuna", str(spec), "--trials", "3"])
    err = capsys.readouterr().err
    assert not exit_info.value.code, err
    counts = [line.split("[", 1)[1].split("]", 1)[0] for line in err.splitlines()
              if "] trial " in line]
    assert counts == ["1/3", "2/3", "3/3"]
    assert "student alone" in err and "━" not in err  # no bar drawn into a log
