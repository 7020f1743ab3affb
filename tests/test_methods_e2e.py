"""A short Optuna search over every method's hyperparameters on digits, read back from the
store (2 trials x 2 epochs, tiny CNNs, one shared workspace so the teacher trains once)."""

import pytest

from kd_automl.distill import get_method, method_names
from kd_automl.optuna import run_study
from kd_automl.spec import parse_spec
from kd_automl.store import Store, leaderboard

METHODS = [m for m in method_names() if m != "ce"]


def _spec(method: str) -> dict:
    cls = get_method(method)
    search = {f"method.{k}": h.search for k, h in cls.hyperparameters.items()
              if h.search and not k.startswith("assistant_")}  # fixed hops: assistant cached
    spec = {
        "name": f"e2e-{method}",
        "dataset": {"name": "digits"},
        "teacher": {"arch": "cnn", "width": 8, "depth": 2},
        "student": {"arch": "cnn", "width": 4, "depth": 2},
        "method": {"name": method},
        "train": {"epochs": 2, "batch_size": 128, "lr": 0.05},
        "teacher_train": {"epochs": 2, "batch_size": 128, "lr": 0.1},
        "pruner": {"name": "none"},
        "seed": 0,
        "search": search,
    }
    if method == "takd":
        spec["assistant"] = {"arch": "cnn", "width": 6, "depth": 2}
        search["assistant.width"] = {"_type": "choice", "_value": [6]}
    return spec


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return tmp_path_factory.mktemp("methods-ws")


@pytest.mark.parametrize("method", METHODS)
def test_short_search_stores_trials_and_every_loss_term(ws, method):
    spec = parse_spec(_spec(method))
    summary = run_study(spec, n_trials=2, workspace=ws, baseline=False)
    store = Store(summary.db)
    exp = store.experiments([spec.name])[0]
    trials = store.trials([exp.id], with_epochs=True)
    assert len(trials) == 2
    for t in trials:
        assert t.state == "complete", t.error
        assert set(t.params) == set(spec.search)
        names = {m.name for m in t.epochs}
        terms = {n for n in names if n.startswith("train_") and n != "train_loss"}
        assert "train_loss" in names and "val_acc" in names and terms, names
        assert {m.epoch for m in t.epochs} == {1, 2}
        assert 0 <= t.student_test_acc <= 1 and t.teacher_test_acc is not None
        key = get_method(method).members_key
        if method in ("dml", "byot", "rocket"):
            accs = t.extra[key]
            assert t.student_test_acc == accs[t.extra["headline"]] and len(accs) >= 2
            assert {f"val_acc_{k}" for k in accs} <= names
        if method == "dml":
            assert len(t.extra["cohort_acc"]) == t.params["method.cohort_size"]
        if method == "takd":
            assert 0 <= t.extra["assistant_acc"] <= 1
    if method == "takd":  # the assistant is trained once, then read from the cache
        caches = [t.extra["assistants"][0]["cache"] for t in trials]
        assert "reused" in caches
    assert len(leaderboard(store, [spec.name])) == 2


def test_leaderboard_compares_methods_side_by_side(ws):
    for method in ("kd", "at"):
        run_study(parse_spec({**_spec(method), "name": f"side-{method}"}), n_trials=1,
                  workspace=ws)
    store = Store(f"sqlite:///{ws}/kd_automl.db")
    rows = leaderboard(store, ["side-kd", "side-at"])
    assert {r.method for r in rows} == {"kd", "at"}
    exps = store.experiments(["side-kd", "side-at"])
    assert len({(e.dataset, e.teacher, e.student) for e in exps}) == 1
    assert all(r.gain is not None for r in rows)
