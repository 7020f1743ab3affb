"""The trial runner: the one place rows are opened and closed, whatever the source."""

import pytest

from kd_automl.engine import TrialResult
from kd_automl.orchestrate.runner import PlannedList, PlannedTrial, run_one, run_trials
from kd_automl.spec import parse_spec
from kd_automl.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'kd.db'}")


@pytest.fixture
def exp(store, tiny_spec_dict):
    return store.experiment(parse_spec(tiny_spec_dict), "script")


class Heard(PlannedList):
    """A fixed list that remembers what the runner told it."""

    def __init__(self, trials, blocker=None):
        super().__init__(trials)
        self.blocker, self.log = blocker, []

    def opened(self, trial):
        self.log.append(("opened", trial.key, trial.store_id))

    def done(self, trial, result):
        self.log.append(("done", trial.key, result.status))

    def abandon(self, trial, reason):
        self.log.append(("abandon", trial.key, reason))

    def fuse_blocker(self):
        return self.blocker


def test_each_trial_is_opened_run_stored_and_handed_back(store, exp):
    trials = [PlannedTrial(i, None, {"method.alpha": i / 10}, extra={"source": "test"},
                           run=lambda i=i: TrialResult(student_val_acc=i / 10)) for i in (1, 2)]
    source, events = Heard(trials), []
    run_trials(source, store, exp, None, on_trial=events.append)
    rows = {t.backend_trial_id: t for t in store.trials()}
    assert {k: (t.state, t.student_val_acc) for k, t in rows.items()} == {
        "1": ("complete", 0.1), "2": ("complete", 0.2)}
    assert all(t.extra["source"] == "test" and "torch_threads" in t.extra for t in rows.values())
    assert [e[:2] for e in source.log] == [("opened", 1), ("done", 1), ("opened", 2), ("done", 2)]
    assert trials[0].store_id == rows["1"].id and trials[0].result.status == "complete"
    assert [(e.number, e.role) for e in events] == [(1, "search"), (2, "search")]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit, RuntimeError])
def test_a_trial_stopped_halfway_is_interrupted_and_abandoned(store, exp, stop):
    def stopped():
        raise stop

    source = Heard([PlannedTrial("1", None, {}, run=stopped)])
    with pytest.raises(stop):
        run_trials(source, store, exp, None)
    (t,) = store.trials()
    assert t.state == "failed" and t.error == "interrupted"
    assert source.log[-1] == ("abandon", "1", "interrupted")


def test_a_source_that_fails_to_hear_the_result_keeps_the_stored_row(store, exp):
    class Deaf(Heard):
        def done(self, trial, result):
            raise KeyboardInterrupt

    source = Deaf([PlannedTrial("1", None, {}, run=lambda: TrialResult(student_val_acc=0.5))])
    with pytest.raises(KeyboardInterrupt):
        run_trials(source, store, exp, None)
    (t,) = store.trials()
    assert t.state == "complete" and t.student_val_acc == 0.5  # the result was stored
    assert source.log[-1] == ("abandon", "1", "interrupted")


def test_an_invalid_point_is_stored_failed_without_running(store, exp):
    def never():
        raise AssertionError("an invalid point must not run")

    trial = PlannedTrial("1", None, {"train.lr": -1}, error="train.lr: must be > 0", run=never)
    result = run_one(trial, store, exp)
    (t,) = store.trials()
    assert result.status == t.state == "failed" and t.error == "train.lr: must be > 0"


def test_unfusable_trials_run_one_at_a_time_with_one_warning(store, exp, caplog):
    notes: list[str] = []
    for key in ("1", "2"):
        source = Heard([PlannedTrial(key, None, {}, run=TrialResult)], blocker="no reason")
        with caplog.at_level("WARNING"):
            run_trials(source, store, exp, None, fuse=4, notes=notes)
    assert notes == ["fuse 4: running trials one at a time: no reason"]
    assert caplog.text.count("running trials one at a time") == 1
    assert {t.state for t in store.trials()} == {"complete"}


def test_trials_with_their_own_code_never_fuse(store, exp):
    notes: list[str] = []
    run_trials(PlannedList([PlannedTrial("1", None, {}, run=TrialResult)]), store, exp, None,
               fuse=2, notes=notes)
    assert notes and "their own code" in notes[0]
    assert [t.state for t in store.trials()] == ["complete"]
