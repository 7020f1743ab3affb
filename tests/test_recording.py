"""Trial recording, the same for every backend: one stored trial from start to result."""

import pytest

from kd_automl.engine import TrialResult
from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.recording import check_before_search, record_trial, run_sampled
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace


@pytest.fixture
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'kd.db'}")


def test_a_recorded_trial_stores_its_result_and_extra(store, tiny_spec_dict):
    exp = store.experiment(parse_spec(tiny_spec_dict), "script")
    trial_id, result = record_trial(store, exp, "7", {"method.alpha": 0.5},
                                    lambda: TrialResult(student_val_acc=0.9),
                                    extra={"source": "test"})
    (t,) = store.trials()
    assert t.id == trial_id and t.state == "complete" and t.student_val_acc == 0.9
    assert t.extra["source"] == "test" and "torch_threads" in t.extra


def test_a_trial_stopped_halfway_is_stored_as_interrupted(store, tiny_spec_dict):
    exp = store.experiment(parse_spec(tiny_spec_dict), "script")

    def stopped():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        record_trial(store, exp, "1", {}, stopped)
    (t,) = store.trials()
    assert t.state == "failed" and t.error == "interrupted"


def test_an_invalid_point_is_a_failed_result_not_an_exception(tmp_path, tiny_spec_dict):
    spec = parse_spec(tiny_spec_dict)
    result = run_sampled(spec, {"train.lr": -1.0}, Workspace(tmp_path))
    assert result.status == "failed" and "train.lr" in result.error


def test_nothing_to_search_is_one_clear_error(tiny_spec_dict):
    tiny_spec_dict["search"] = {}
    with pytest.raises(KDAutoMLError, match="empty 'search' section"):
        check_before_search(parse_spec(tiny_spec_dict))
