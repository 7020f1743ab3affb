"""Warm start: the best points of earlier experiments, nearest pair first, as first trials."""

from __future__ import annotations

import copy

import optuna
import pytest
from conftest import TINY

from kd_automl.cli import main
from kd_automl.engine import TrialResult
from kd_automl.orchestrate.warm_start import translate, warm_start_points
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace


def _spec(name: str, **changes) -> dict:
    d = copy.deepcopy(TINY)
    d["name"] = name
    d["train"]["epochs"] = 1
    for section, value in changes.items():
        d[section] = value
    return d


def _earlier(store: Store, d: dict, points: list[tuple[float, float, float]],
             backend: str = "optuna") -> None:
    """An earlier experiment of ``d`` with complete trials (T, alpha, val_acc)."""
    spec = parse_spec(d)
    exp = store.experiment(spec, backend, name=spec.name)
    for i, (t, a, acc) in enumerate(points):
        tid = store.start_trial(exp, i, {"method.temperature": t, "method.alpha": a})
        store.finish_trial(tid, TrialResult(student_val_acc=acc, student_test_acc=acc))


@pytest.fixture
def store(workspace):
    s = Store(Workspace.resolve(workspace).db_url)
    # nearest: same dataset and archs, student width 16 against 8 (one doubling)
    _earlier(store=s, d=_spec("near", student={"arch": "mlp", "width": 16, "depth": 1}),
             points=[(9.0, 0.1, 0.80), (2.5, 0.3, 0.90)], backend="nni")
    # farther: student width 64 (three doublings)
    _earlier(s, _spec("far", student={"arch": "mlp", "width": 64, "depth": 1}),
             [(12.0, 0.45, 0.95)])
    # another architecture, the same size options
    _earlier(s, _spec("cnn", student={"arch": "cnn", "width": 8, "depth": 1}),
             [(3.0, 0.2, 0.97)])
    # another dataset: last, whatever its sizes
    _earlier(s, _spec("synth", dataset={"name": "synthetic"}), [(5.0, 0.25, 0.99)])
    # another method: never
    _earlier(s, _spec("dkd", method={"name": "dkd"}), [(4.0, 0.5, 0.99)])
    yield s
    s.dispose()


def test_nearest_pair_first_and_only_this_space(store):
    spec = parse_spec(_spec("new"))
    points = warm_start_points(store, spec, limit=10)
    assert [p.experiment for p in points] == ["near", "far", "cnn", "synth"]
    near = points[0]
    assert near.trial == "1" and near.backend == "nni"  # its best trial, not its first
    assert near.params == {"method.temperature": 2.5, "method.alpha": 0.3}
    assert near.optuna_params == near.params  # uniform/loguniform: the same names
    assert "from near #1 (nni)" in near.describe()
    assert [p.experiment for p in warm_start_points(store, spec, limit=2)] == ["near", "far"]
    assert warm_start_points(store, spec, exclude="near", limit=1)[0].experiment == "near"  # nni

    # a narrower space keeps only what it can hold; Optuna samples the rest
    d = _spec("narrow")
    d["search"] = {"alpha": {"_type": "uniform", "_value": [0.0, 0.4]},
                   "method.temperature": {"_type": "choice", "_value": [1, 2, 4]},
                   "train.lr": {"_type": "normal", "_value": [0.05, 0.01]}}
    narrow = parse_spec(d)
    assert translate(narrow, {"method.temperature": 12.0, "method.alpha": 0.45}) == ({}, {})
    nni, opt = translate(narrow, {"method.temperature": 4, "method.alpha": 0.3,
                                  "train.lr": 0.05})
    assert nni == {"alpha": 0.3, "method.temperature": 4, "train.lr": 0.05}
    assert opt == {"alpha": 0.3, "method.temperature": 4, "train.lr#q": pytest.approx(0.5)}
    assert [p.experiment for p in warm_start_points(store, narrow, limit=10)] == ["near", "cnn",
                                                                                   "synth"]


def test_optuna_warm_start_enqueues_and_says_which(store, workspace, tmp_path, capsys,
                                                   one_thread):
    spec_file = tmp_path / "new.yaml"
    import yaml

    spec_file.write_text(yaml.safe_dump(_spec("new"), sort_keys=False))
    with pytest.raises(SystemExit) as info:
        main(["optuna", str(spec_file), "--trials", "2", "--warm-start", "--threads", "1"])
    _, err = capsys.readouterr()
    err = " ".join(err.split())  # log lines may wrap
    assert info.value.code in (0, None)
    assert "warm start: T=2.5 alpha=0.3 from near #1 (nni)" in err
    assert "warm start: T=12 alpha=0.45 from far #0 (optuna)" in err
    study = optuna.load_study(study_name="new", storage=store.url)
    trials = study.get_trials(deepcopy=False)
    assert trials[0].params == {"method.temperature": 2.5, "method.alpha": 0.3}
    assert trials[1].params == {"method.temperature": 12.0, "method.alpha": 0.45}
    assert trials[0].user_attrs["warm_start"] == "near #1 (nni)"
    stored = store.trials([store.experiments(["new"])[0].id], role="search")
    assert [t.params for t in stored] == [trials[0].params, trials[1].params]
