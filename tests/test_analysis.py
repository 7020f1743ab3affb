"""Figure functions on constructed stores: empty, one trial, many (with failed and pruned
trials, two backends, two methods), and 10,000 trials."""

from __future__ import annotations

import pytest
from test_analysis_stores import bulk_fill, fill

from kd_automl.analysis import (
    accuracy_vs_size,
    figure_set,
    gap_and_gain,
    importances,
    is_empty,
    learning_curves,
    loss_terms,
    method_comparison,
    optimization_history,
    parallel_coordinates,
    param_importance,
    pareto_front,
    pick_for_curves,
    slice_plot,
    temperature_alpha,
    trial_curves,
)
from kd_automl.analysis._common import GREY, note_of
from kd_automl.store import Store, flatten_params

ALL = [optimization_history, param_importance, parallel_coordinates, slice_plot,
       temperature_alpha, learning_curves, gap_and_gain, accuracy_vs_size, method_comparison]


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'kd.db'}")
    yield s
    s.dispose()


def _message(fig) -> str:
    return fig.layout.annotations[0].text


def test_no_trials_every_figure_says_so(store):
    for fn in ALL:
        fig = fn([])
        assert is_empty(fig) and _message(fig), fn.__name__
    fill(store, 0, failed=1, pruned=1, baseline=False)  # nothing completed
    trials = store.trials(with_epochs=True)
    for name, fig in figure_set(trials):
        if name != "curves":  # a pruned trial still has a curve to show
            assert is_empty(fig), name
    assert not is_empty(learning_curves(trials))


def test_one_trial(store):
    fill(store, 1)
    trials = store.trials(with_epochs=True)
    figs = dict(figure_set(trials))
    for name in ("history", "temperature_alpha", "curves", "gap_gain", "methods"):
        assert not is_empty(figs[name]), name
    # one student size: no size trade-off, and one line says why
    for name in ("pareto_params", "pareto_flops"):
        assert is_empty(figs[name]) and "size is fixed" in _message(figs[name]), name
    # one trial: nothing varies, nothing to rank
    assert is_empty(figs["importance"]) and "at least 2" in _message(figs["importance"])
    assert is_empty(figs["parallel"]) and is_empty(figs["slice"])
    assert importances(trials) == {}


def test_many_trials_with_failed_and_pruned_two_backends(store):
    fill(store, 30, failed=3, pruned=4, name="kd-optuna")
    fill(store, 12, failed=1, name="dkd-nni", backend="nni", method="dkd", seed=1,
         student={"arch": "mlp", "width": 16, "depth": 1})
    trials = store.trials()
    for name, fig in figure_set(trials, store.trials_by_id(pick_for_curves(trials),
                                                           with_epochs=True)):
        assert not is_empty(fig) or name == "objective_front", name  # single-objective
        assert note_of(fig) == "" or "showing" not in note_of(fig), name  # nothing sampled
    # history: per experiment, trial markers + best-so-far; best-so-far never decreases
    hist = optimization_history(trials)
    best = [tr for tr in hist.data if tr.name == "kd-optuna: best so far"][0]
    assert len(best.y) == 30 and list(best.y) == sorted(best.y)
    # importance comes from stored trials, so the NNI experiment gets it too
    imp = param_importance(trials)
    assert {tr.name for tr in imp.data} == {"kd-optuna", "dkd-nni"}
    kd = importances([t for t in trials if t.experiment.name == "kd-optuna"])
    assert set(kd) == {"method.temperature", "method.alpha"}
    assert sum(kd.values()) == pytest.approx(1.0)
    # temperature is what the made-up accuracy depends on most
    assert kd["method.temperature"] > kd["method.alpha"]
    # heatmap once there are enough trials, trials drawn on top
    ta = temperature_alpha(trials)
    assert ta.data[0].type == "heatmap" and "mean of 42 trials" in note_of(ta)
    assert "student alone" in note_of(ta)
    # method comparison: one box per method and the student alone
    boxes = {tr.name for tr in method_comparison(trials).data}
    assert boxes == {"kd", "dkd", "student alone"}
    # Pareto front: two student sizes, front is monotone in both
    pf = [tr for tr in accuracy_vs_size(trials).data if tr.name == "Pareto front"][0]
    assert list(pf.x) == sorted(pf.x) and list(pf.y) == sorted(pf.y)
    # gain is measured against each experiment's own baseline
    gg = gap_and_gain(trials)
    assert len([tr for tr in gg.data if tr.yaxis == "y2"]) == 2


def test_learning_curves_grey_out_pruned_and_loss_terms(store):
    fill(store, 3, pruned=2, failed=1)
    trials = store.trials(with_epochs=True)
    fig = learning_curves(trials)
    pruned = [tr for tr in fig.data if tr.legendgroup == "pruned"]
    assert len(pruned) == 2 and all(tr.line.color == GREY for tr in pruned)
    assert sum(bool(tr.showlegend) for tr in pruned) == 1
    assert learning_curves(store.trials()).layout.meta == {"empty": True}  # epochs not loaded
    best = [t for t in trials if t.state == "complete" and t.role == "search"][0]
    terms = {tr.name for tr in loss_terms(best).data}
    assert terms == {"kd", "ce", "loss"}
    assert {tr.name for tr in trial_curves(best).data} == {"val_acc"}
    assert is_empty(loss_terms(store.trials()[0]))


def test_pareto_front_and_flat_params():
    pts = [(100, 0.90), (100, 0.93), (200, 0.92), (300, 0.95), (50, 0.80), (400, 0.95)]
    assert pareto_front(pts) == [(50, 0.80), (100, 0.93), (300, 0.95)]
    assert pareto_front([]) == []
    nested = {"method": {"_name": "dkd", "alpha": 1.0, "beta": 8.0}, "train.lr": 0.1}
    assert flatten_params(nested) == {"method": "dkd", "method.alpha": 1.0, "method.beta": 8.0,
                                   "train.lr": 0.1}


def test_categorical_and_nested_choice_params(store):
    """A searched method choice: importance handles categoricals, method_of reads _name."""
    from test_analysis_stores import spec

    from kd_automl.engine import TrialResult
    from kd_automl.spec import parse_spec

    d = spec(name="choice")
    d["search"] = {"method": {"_type": "choice", "_value": [
        {"_name": "kd", "temperature": {"_type": "uniform", "_value": [1, 10]}},
        {"_name": "dkd", "temperature": {"_type": "uniform", "_value": [1, 10]}}]}}
    exp = store.experiment(parse_spec(d), backend="nni")
    for i in range(8):
        m = "kd" if i % 2 else "dkd"
        tid = store.start_trial(exp, i, {"method": {"_name": m, "temperature": 1.0 + i}})
        acc = 0.9 + (0.05 if m == "kd" else 0) + 0.001 * i
        store.finish_trial(tid, TrialResult(student_val_acc=acc, student_test_acc=acc))
    trials = store.trials()
    imp = importances(trials)
    assert set(imp) == {"method", "method.temperature"} and imp["method"] > 0.5
    assert {tr.name for tr in method_comparison(trials).data} == {"kd", "dkd"}
    assert not is_empty(parallel_coordinates(trials))


def test_ten_thousand_trials_sample_and_say_so(store):
    bulk_fill(store, 10_000)
    trials = store.trials()
    assert len(trials) == 10_001
    curve_trials = store.trials_by_id([t.id for t in trials[1:51]], with_epochs=True)
    figs = dict(figure_set(trials, curve_trials))
    for name, fig in figs.items():
        assert not is_empty(fig) or name == "objective_front", name  # single-objective
    for name in ("history", "parallel", "slice", "temperature_alpha", "gap_gain",
                 "pareto_params", "importance", "curves"):
        assert "showing" in note_of(figs[name]), name
    assert "mean of" in note_of(figs["temperature_alpha"])  # aggregated into a heatmap
    assert "outliers only" in note_of(figs["methods"])
    markers = [tr for tr in figs["history"].data if tr.mode == "markers"][0]
    assert len(markers.x) <= 5_000
    best = [tr for tr in figs["history"].data if tr.mode == "lines"][0]
    assert len(best.y) > 8_000  # the best-so-far line uses every completed trial
    assert len(figs["parallel"].data[0].dimensions[0].values) <= 1_000
