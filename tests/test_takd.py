"""TAKD: the assistant cache across trials, a two-assistant chain, and a search of the
assistant's size recorded in the store (tiny CNNs, 2 epochs, digits)."""

from __future__ import annotations

import pytest

from kd_automl.engine import run_trial
from kd_automl.optuna import run_study
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace


def _spec(**changes) -> dict:
    d = {
        "name": "takd-test",
        "dataset": {"name": "digits"},
        "teacher": {"arch": "cnn", "width": 8, "depth": 2},
        "assistant": {"arch": "cnn", "width": 6, "depth": 2},
        "student": {"arch": "cnn", "width": 4, "depth": 1},
        "method": {"name": "takd", "temperature": 4.0, "alpha": 0.9,
                   "assistant_temperature": 4.0, "assistant_alpha": 0.9},
        "train": {"epochs": 2, "batch_size": 128, "lr": 0.05},
        "teacher_train": {"epochs": 2, "batch_size": 128, "lr": 0.1},
        "pruner": {"name": "none"},
        "seed": 0,
    }
    d.update(changes)
    return d


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return tmp_path_factory.mktemp("takd-ws")


def _checkpoints(ws) -> dict[str, int]:
    """Assistant checkpoints (one manifest each) and their modification times."""
    return {p.name: p.with_suffix(".pt").stat().st_mtime_ns
            for p in (ws / "assistants").glob("*.json")}


def test_assistant_cache_is_reused_across_trials(ws):
    """Trials that differ only in the student hop reuse the assistant; another hop T or
    another assistant size trains a new one."""
    spec = parse_spec(_spec(search={
        "method.temperature": {"_type": "choice", "_value": [2.0, 8.0]},
        "method.alpha": {"_type": "uniform", "_value": [0.1, 0.9]}}))
    summary = run_study(spec, n_trials=3, workspace=ws, baseline=False)
    store = Store(summary.db)
    trials = sorted(store.trials([store.experiments([spec.name])[0].id]), key=lambda t: t.id)
    assert [t.state for t in trials] == ["complete"] * 3, [t.error for t in trials]
    assert [t.extra["assistants"][0]["cache"] for t in trials] == ["trained", "reused", "reused"]
    assert len({t.extra["assistant_acc"] for t in trials}) == 1
    files = _checkpoints(ws)
    assert len(files) == 1

    same = run_trial(parse_spec(_spec(method={"name": "takd", "temperature": 3.0,
                                              "assistant_temperature": 4.0})),
                     Workspace.resolve(ws))
    assert same.extra["assistants"][0]["cache"] == "reused"
    assert _checkpoints(ws) == files  # not rewritten
    hop = run_trial(parse_spec(_spec(method={"name": "takd", "assistant_temperature": 8.0})),
                    Workspace.resolve(ws))
    assert hop.extra["assistants"][0]["cache"] == "trained"
    assert len(_checkpoints(ws)) == 2


def test_two_assistant_chain(ws):
    d = _spec(assistants=[{"arch": "cnn", "width": 8, "depth": 2}],
              assistant={"arch": "cnn", "width": 6, "depth": 1})
    first = run_trial(parse_spec(d), Workspace.resolve(ws))
    assert first.status == "complete", first.error
    chain = first.extra["assistants"]
    assert [a["model"] for a in chain] == [d["assistants"][0], d["assistant"]]
    assert all(a["params"] > 0 and 0 <= a["test_acc"] <= 1 for a in chain)
    assert first.extra["assistant_acc"] == chain[-1]["test_acc"]
    again = run_trial(parse_spec(d), Workspace.resolve(ws))
    assert [a["cache"] for a in again.extra["assistants"]] == ["reused", "reused"]
    assert again.student_test_acc == first.student_test_acc


def test_search_over_assistant_size_records_params(ws):
    spec = parse_spec(_spec(name="takd-size", search={
        "assistant.width": {"_type": "choice", "_value": [4, 12]},
        "method.temperature": {"_type": "loguniform", "_value": [1, 20]}}))
    summary = run_study(spec, n_trials=3, workspace=ws)
    store = Store(summary.db)
    exp = store.experiments(["takd-size"])[0]
    trials = store.trials([exp.id])
    search = [t for t in trials if t.role == "search"]
    assert all(t.state == "complete" for t in search), [t.error for t in search]
    for t in search:
        a = t.extra["assistants"][-1]
        assert a["model"]["width"] == t.params["assistant.width"] and a["params"] > 0
    assert any(t.role == "baseline" and t.state == "complete" for t in trials)
