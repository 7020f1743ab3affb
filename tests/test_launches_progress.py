"""A launch's progress line before its first trial says what it is doing."""

from helpers.stores import result, spec

from kd_automl.orchestrate.launches.progress import RunProgress, _phase
from kd_automl.spec import parse_spec
from kd_automl.store import Store


def test_before_the_first_trial_the_progress_says_what_trains(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'kd.db'}")
    assert "loading the data" in _phase(store, [], [])
    exp = store.experiment(parse_spec(spec(name="p")), "optuna")
    exps = store.experiments(["p"])
    assert "teacher" in _phase(store, exps, [])
    tid = store.start_trial(exp, "baseline", {}, role="baseline", method="ce")
    assert "student alone" in _phase(store, exps, [])
    store.finish_trial(tid, result(0.9))
    assert _phase(store, exps, []) is None
    first = store.start_trial(exp, 0, {"method.alpha": 0.5})
    assert _phase(store, exps, store.trials_by_id([first])) is None
    text = RunProgress(0, 0, 0, 0, 12, None, 45.0, None,
                       phase="training the student alone (the baseline) first").done_text
    assert text == "0/12 (0 ok, 0 pruned, 0 failed); training the student alone (the " \
                   "baseline) first"
