"""Worker processes share one study; each worker gets its own GPU when there are GPUs."""

import optuna
import pytest

from kd_automl.errors import KDAutoMLError
from kd_automl.optuna import run_study
from kd_automl.orchestrate.gpus import gpu_for_worker, parse_gpus, visible_gpus
from kd_automl.spec import parse_spec
from kd_automl.store import Store


def test_gpu_assignment_round_robin(monkeypatch):
    assert [gpu_for_worker(i, ["0", "1"]) for i in range(4)] == ["0", "1", "0", "1"]
    assert gpu_for_worker(3, []) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert visible_gpus() == ["2", "5"]
    assert visible_gpus([7]) == ["7"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus() == []


def test_two_worker_processes_fill_one_study(workspace, tiny_spec_dict):
    tiny_spec_dict["name"] = "parallel"
    summary = run_study(parse_spec(tiny_spec_dict), n_trials=4, workers=2)
    study = optuna.load_study(study_name="parallel", storage=summary.db)
    assert len(study.trials) == 4
    stored = [t for t in Store(summary.db).trials() if t.role == "search"]
    assert sorted(int(t.backend_trial_id) for t in stored) == [0, 1, 2, 3]
    assert all(t.state == "complete" for t in stored)
    # both workers trained against the one cached teacher
    assert len(list((workspace / "teachers").glob("*.json"))) == 1  # one manifest


def test_gpu_lists_parse_or_fail_with_one_message():
    assert parse_gpus("0,1") == [0, 1] and parse_gpus(None) is None and parse_gpus("") is None
    with pytest.raises(KDAutoMLError, match="GPU ids separated by commas"):
        parse_gpus("0;1")
