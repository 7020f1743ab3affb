"""Multi-objective searches: both objectives stored, the front listed and drawn."""

import json

import optuna
import pytest

from kd_automl.analysis.figures import is_empty
from kd_automl.analysis.objectives import objective_front
from kd_automl.analysis.tradeoff import accuracy_vs_size
from kd_automl.cli import main
from kd_automl.optuna import run_study
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.store.pareto import non_dominated

SIZE = [{"metric": "val_acc", "direction": "maximize"},
        {"metric": "student_params", "direction": "minimize"}]


def test_a_width_search_stores_both_objectives_and_lists_the_front(tiny_spec_dict, workspace,
                                                                   capsys):
    d = tiny_spec_dict
    d.update(name="mo-width", objectives=SIZE, pruner={"name": "median"})
    d["search"] = {"student.width": {"_type": "choice", "_value": [2, 4, 8, 16]},
                   "method.temperature": {"_type": "loguniform", "_value": [1, 20]}}
    summary = run_study(parse_spec(d), n_trials=6, baseline=False, threads=1)
    assert summary.trials_run == 6 and summary.best_value is None and summary.pareto_size
    study = optuna.load_study(study_name="mo-width", storage=summary.storage)
    assert len(study.directions) == 2
    store = Store(summary.db)
    trials = {t.backend_trial_id: t for t in store.trials() if t.role == "search"}
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 6
    for t in done:  # both objectives, as the store recorded them
        row = trials[str(t.number)]
        assert t.values == [pytest.approx(row.student_val_acc), row.student_params]
    # leaderboard --pareto: exactly the non-dominated trials
    with pytest.raises(SystemExit) as info:
        main(["leaderboard", "--pareto", "-e", "mo-width", "--format", "json"])
    assert (info.value.code or 0) == 0
    front = json.loads(capsys.readouterr().out)
    rows = list(trials.values())
    expected = {rows[i].backend_trial_id for i in non_dominated(
        [[r.student_val_acc, r.student_params] for r in rows], [True, False])}
    assert {r["trial"] for r in front} == expected and len(front) == summary.pareto_size
    # the summary's front: the same trials, best val_acc first, each with its numbers
    assert {str(p.trial) for p in summary.pareto} == expected
    accs = [p.values["val_acc"] for p in summary.pareto]
    assert accs == sorted(accs, reverse=True)
    for p in summary.pareto:
        row = trials[str(p.trial)]
        assert list(p.values) == ["val_acc", "student_params"]
        assert p.values["student_params"] == row.student_params
        assert p.val_acc == pytest.approx(row.student_val_acc)
        assert p.test_acc == row.student_test_acc and p.gain is None  # no baseline was run
    with pytest.raises(SystemExit):
        main(["leaderboard", "--pareto", "-e", "mo-width"])
    assert "Pareto front" in capsys.readouterr().out
    # the report's figures: the objectives' front, and accuracy against size (it varies)
    all_trials = store.trials()
    assert not is_empty(objective_front(all_trials))
    assert not is_empty(accuracy_vs_size(all_trials))
    store.dispose()


def test_a_fused_group_tells_every_objective(tiny_spec_dict, workspace):
    d = tiny_spec_dict
    d.update(name="mo-fused", fuse=2,
             objectives=[{"metric": "val_acc"}, {"metric": "wall_time_s",
                                                 "direction": "minimize"}])
    summary = run_study(parse_spec(d), n_trials=2, baseline=False, threads=1)
    study = optuna.load_study(study_name="mo-fused", storage=summary.storage)
    assert [len(t.values) for t in study.trials] == [2, 2]
    assert study.metric_names == ["val_acc", "wall_time_s"]  # optuna-dashboard's names


def test_the_single_objective_field_still_works(tiny_spec_dict):
    spec = parse_spec({**tiny_spec_dict, "objective": {"metric": "test_acc"}})
    assert [g.metric for g in spec.goals] == ["test_acc"] and not spec.multi_objective
    mo = parse_spec({**tiny_spec_dict, "objectives": SIZE})
    assert mo.objective.metric == "val_acc" and mo.multi_objective
    assert parse_spec(mo.to_dict()).goals == mo.goals  # a stored spec validates again
