"""Figure functions on constructed stores: empty, one trial, many (with failed and pruned
trials, two backends, two methods), and 10,000 trials."""

from __future__ import annotations

import pytest
from helpers.stores import bulk_fill, fill, result

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
    # one student size: no size trade-off and no empty Pareto panel, one line says why
    assert "pareto_params" not in figs and "pareto_flops" not in figs
    assert is_empty(figs["pareto"])
    assert _message(figs["pareto"]).startswith("the student's size is fixed: 626 parameters, "
                                               "1,252 FLOPs")
    # the history is in %, at the stored trial number, with the student alone's line
    hist = figs["history"]
    trial = [tr for tr in hist.data if tr.mode == "markers"][0]
    assert list(trial.x) == [0] and trial.y[0] == pytest.approx(100 * trials[1].objective)
    alone = [tr for tr in hist.data if tr.name == "tiny-kd: student alone"][0]
    assert list(alone.y) == [pytest.approx(90.0)] * 2
    assert hist.layout.yaxis.title.text == "student val_acc (%)"
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
    # x is the trial number as stored: the leaderboard's trial 11 is at x = 11, even with
    # pruned and failed trials between (fill's numbers are 0..36, the completed ones 0..29)
    marks = [tr for tr in hist.data if tr.name == "kd-optuna: trial"][0]
    stored = {int(t.backend_trial_id): 100 * t.objective for t in trials
              if t.experiment.name == "kd-optuna" and t.state == "complete" and t.role == "search"}
    assert dict(zip(marks.x, marks.y, strict=True)) == pytest.approx(stored)
    # importance comes from stored trials, so the NNI experiment gets it too
    imp = param_importance(trials)
    assert {tr.name for tr in imp.data} == {"kd-optuna", "dkd-nni"}
    kd = importances([t for t in trials if t.experiment.name == "kd-optuna"])
    assert set(kd) == {"method.temperature", "method.alpha"}
    assert sum(kd.values()) == pytest.approx(1.0)
    # temperature is what the made-up accuracy depends on most
    assert kd["method.temperature"] > kd["method.alpha"]
    # scatter beside a heatmap of the binned mean objective (%), counts in the cells
    ta = temperature_alpha(trials)
    scatter, heat = ta.data
    assert scatter.type == "scatter" and heat.type == "heatmap"
    assert scatter.xaxis == "x" and heat.xaxis == "x2"
    # one method's trials only (DKD's alpha means something else), the other one named
    assert "mean of 30 trials in 3×3 cells" in note_of(ta)
    assert "method kd only (30 trials); 12 trials of other methods" in note_of(ta)
    assert "dkd-nni" in note_of(ta) and ta.layout.yaxis.title.text == "alpha (kd's own)"
    assert sum(int(n) for row in heat.text for n in row) == 30
    assert min(scatter.marker.color) > 80  # the objective (val acc) in %, not a fraction
    done = [t for t in trials if t.state == "complete" and t.role == "search"
            and t.experiment.name == "kd-optuna"]
    assert sorted(scatter.marker.color) == pytest.approx(sorted(100 * t.student_val_acc
                                                                for t in done))
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
    assert {tr.name for tr in trial_curves(best).data} == {"val_acc (%)"}
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
    from helpers.stores import spec

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


def test_history_draws_the_student_alone_and_kd_at_defaults_lines(store):
    """References come from the baseline and from `kd-automl confirm`'s controls (role
    confirm, extra["confirm"]["control"] alone | kd), averaged over their seeds."""
    exp = fill(store, 5)
    for seed, (alone, kd) in enumerate([(0.88, 0.92), (0.90, 0.94)], start=1):
        for control, acc in (("alone", alone), ("kd", kd)):
            tid = store.start_trial(exp, f"confirm-{control}-{seed}", {}, role="confirm",
                                    method={"alone": "ce", "kd": "kd"}[control])
            store.finish_trial(tid, result(acc, extra={"confirm": {
                "source": control, "seed": seed, "control": control}}))
    tid = store.start_trial(exp, "confirm-0-1", {}, role="confirm")  # a top trial: no line
    store.finish_trial(tid, result(0.99, extra={"confirm": {"source": "0", "seed": 1,
                                                            "control": None}}))
    hist = optimization_history(store.trials())
    lines = {tr.name: tr for tr in hist.data if tr.mode == "lines"}
    assert set(lines) == {"tiny-kd: best so far", "tiny-kd: student alone (mean of 3)",
                          "tiny-kd: KD at defaults (mean of 2)"}
    assert lines["tiny-kd: student alone (mean of 3)"].y[0] == pytest.approx(89.333, abs=1e-3)
    assert lines["tiny-kd: KD at defaults (mean of 2)"].y[0] == pytest.approx(93.0)
    assert list(lines["tiny-kd: KD at defaults (mean of 2)"].x) == [0, 4]  # the trials' span
    marks = [tr for tr in hist.data if tr.mode == "markers"][0]
    assert sorted(marks.x) == [0, 1, 2, 3, 4]  # confirm rows are not search trials


def test_figures_compare_like_with_like(store):
    """Panels group runs of one dataset, teacher, student, seed and budget; axes never mix
    two methods' parameters; a parameter some trials lack is not drawn; pruned trials show."""
    from helpers.stores import result, spec

    from kd_automl.spec import parse_spec

    fill(store, 12, pruned=3, failed=1, name="kd-seed0")
    fill(store, 8, name="dkd-seed0", method="dkd")
    # the same pair and method on another seed and budget: another panel, its own baseline
    d = spec(name="kd-seed1", seed=1)
    d["train"]["epochs"] = 8
    exp = store.experiment(parse_spec(d), backend="optuna", name="kd-seed1")
    tid = store.start_trial(exp, "baseline", {}, role="baseline", method="ce")
    store.finish_trial(tid, result(0.8))
    for i in range(4):
        tid = store.start_trial(exp, i, {"method.temperature": 2.0 + i, "method.alpha": 0.5,
                                         **({"train.lr": 0.1} if i % 2 else {})})
        store.finish_trial(tid, result(0.85 + 0.01 * i))
    trials = store.trials()

    mc = method_comparison(trials)
    titles = [a.text for a in mc.layout.annotations]
    assert "digits: mlp(width=32,depth=1) → mlp(width=8,depth=1), seed 0, 2 epochs" in titles
    assert "digits: mlp(width=32,depth=1) → mlp(width=8,depth=1), seed 1, 8 epochs" in titles
    assert "share dataset, teacher, student, seed and epochs" in note_of(mc)
    alone = [tr for tr in mc.data if tr.name == "student alone"]
    assert sorted(tr.y[0] for tr in alone) == pytest.approx([79.0, 89.0])  # test acc, its own
    assert all(tr.type == "scatter" and tr.line.dash == "dash" for tr in alone)

    pc = parallel_coordinates(trials)
    labels = [d.label for d in pc.data[0].dimensions]
    assert labels[:2] == ["method.temperature", "method.alpha"]
    assert "method kd only" in note_of(pc) and "dkd-seed0" in note_of(pc)
    assert "train.lr" not in labels and "not drawn (only some trials have them): train.lr" in \
        note_of(pc)
    kd_done = [t for t in trials if t.method == "kd" and t.state == "complete"
               and t.role == "search"]
    assert len(pc.data[0].dimensions[0].values) == len(kd_done)

    sp = slice_plot(trials)
    assert sp.data[0].marker.colorscale[0][1] != "rgb(247,251,255)"  # not white on white

    hist = optimization_history([t for t in trials if t.experiment.name == "kd-seed0"])
    pruned = [tr for tr in hist.data if tr.name == "kd-seed0: pruned (value when stopped)"]
    assert len(pruned) == 1 and list(pruned[0].x) == [12, 13, 14]
    assert "12 complete, 3 pruned (grey ×), 1 failed (no value)" in note_of(hist)
