"""Real (tiny) Optuna studies on digits, read back from the store."""

import optuna
import pytest

from kd_automl.optuna import run_study
from kd_automl.spec import parse_spec
from kd_automl.store import Store, leaderboard


def test_study_runs_stores_and_resumes(workspace, tiny_spec_dict):
    spec = parse_spec(tiny_spec_dict)
    events = []
    summary = run_study(spec, n_trials=3, on_trial=events.append)
    assert summary.trials_run == 3
    assert [e.role for e in events] == ["baseline", "search", "search", "search"]
    store = Store(summary.db)
    trials = store.trials(with_epochs=True)
    search = [t for t in trials if t.role == "search"]
    assert len(search) == 3 and all(t.state == "complete" for t in search)
    for t in search:
        assert set(t.params) == {"method.temperature", "method.alpha"}
        assert 1 <= t.params["method.temperature"] <= 20
        epochs = sorted({m.epoch for m in t.epochs})
        assert epochs == [1, 2, 3]
        names = {m.name for m in t.epochs}
        assert {"val_acc", "train_loss", "train_ce", "train_kd"} <= names
        assert 0 < t.student_test_acc <= 1 and t.teacher_test_acc > 0.5
        assert t.gap == pytest.approx(t.teacher_test_acc - t.student_test_acc)
    # the Optuna study lives in the same database file, and agrees with the store
    study = optuna.load_study(study_name="tiny-kd", storage=summary.db)
    assert len(study.trials) == 3
    assert study.metric_names == ["val_acc"]  # optuna-dashboard shows it, not "Objective 0"
    by_number = {str(t.number): t for t in study.trials}
    for t in search:
        assert by_number[t.backend_trial_id].params == t.params
        assert by_number[t.backend_trial_id].value == pytest.approx(t.student_val_acc)
    rows = leaderboard(store, ["tiny-kd"])
    assert len(rows) == 3 and all(r.gain is not None for r in rows)

    # running again resumes by name: 2 more trials, teacher reused, baseline not re-run
    events.clear()
    again = run_study(spec, n_trials=2, on_trial=events.append)
    assert again.study_name == "tiny-kd" and again.trials_run == 2
    assert [e.role for e in events] == ["search", "search"]
    assert all(e.result.extra["teacher_cache"] == "reused" for e in events)
    assert len(optuna.load_study(study_name="tiny-kd", storage=summary.db).trials) == 5

    fresh = run_study(spec, n_trials=1, fresh=True)
    assert fresh.study_name.startswith("tiny-kd-") and fresh.trials_run == 1


def test_diverging_and_crashing_trials_are_failed_and_the_study_goes_on(workspace,
                                                                        tiny_spec_dict):
    # lr=1e30 makes the loss NaN; batches of one sample crash the MLP's BatchNorm
    tiny_spec_dict["search"] = {
        "train.lr": {"_type": "choice", "_value": [0.05, 1.0e30]},
        "train.batch_size": {"_type": "choice", "_value": [128, 1]},
    }
    tiny_spec_dict["name"] = "crashy"
    tiny_spec_dict["sampler"] = {"name": "grid"}  # every combination once, whatever the seed
    spec = parse_spec(tiny_spec_dict)
    summary = run_study(spec, n_trials=4)
    trials = [t for t in Store(summary.db).trials() if t.role == "search"]
    assert len(trials) == 4
    failed = [t for t in trials if t.state == "failed"]
    ok = [t for t in trials if t.state == "complete"]
    assert failed and ok
    for t in failed:
        if t.params["train.batch_size"] == 1:
            assert "Expected more than 1 value per channel" in t.error
        else:
            assert t.params["train.lr"] == 1.0e30 and t.error.startswith("diverged:")
    assert {t.params["train.batch_size"] for t in failed} == {1, 128}
    study = optuna.load_study(study_name="crashy", storage=summary.db)
    states = {t.state for t in study.trials}
    assert optuna.trial.TrialState.FAIL in states and optuna.trial.TrialState.COMPLETE in states


def test_pruner_stops_trials_early(workspace, tiny_spec_dict):
    tiny_spec_dict["name"] = "pruned"
    tiny_spec_dict["train"]["epochs"] = 6
    tiny_spec_dict["pruner"] = {"name": "median", "startup_trials": 2, "warmup_epochs": 1}
    tiny_spec_dict["search"] = {"train.lr": {"_type": "loguniform", "_value": [1e-5, 0.5]}}
    summary = run_study(parse_spec(tiny_spec_dict), n_trials=10)
    trials = [t for t in Store(summary.db).trials(with_epochs=True) if t.role == "search"]
    pruned = [t for t in trials if t.state == "pruned"]
    assert pruned, "a 10-trial study over 5 decades of lr prunes something"
    for t in pruned:
        assert max(m.epoch for m in t.epochs) < 6
