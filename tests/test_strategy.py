"""Samplers and pruners from the spec: each runs a short digits study; bad pairs fail early."""

import copy

import pytest

from kd_automl.cli import main
from kd_automl.errors import KDAutoMLError
from kd_automl.optuna import run_study
from kd_automl.search.strategy import build_pruner, build_sampler, grid_space, notes
from kd_automl.spec import parse_spec

FINITE = {"method.temperature": {"_type": "quniform", "_value": [1, 4, 1]},
          "method.alpha": {"_type": "choice", "_value": [0.5, 0.9]}}


def _spec(tiny, sampler, pruner="none", search=None, **more):
    d = copy.deepcopy(tiny)
    d["sampler"] = {"name": sampler, **more}
    d["pruner"] = {"name": pruner, "startup_trials": 0, "warmup_epochs": 0}
    if search:
        d["search"] = search
    return d


@pytest.fixture(scope="module")
def shared_ws(tmp_path_factory):
    return tmp_path_factory.mktemp("ws")  # one teacher for every study of this module


# every sampler once, every pruner at least once
@pytest.mark.parametrize("sampler,pruner", [
    ("tpe", "median"), ("random", "percentile"), ("cmaes", "successive_halving"),
    ("gp", "hyperband"), ("nsgaii", "wilcoxon"), ("qmc", "none"), ("grid", "median")])
def test_each_sampler_and_pruner_runs_a_digits_study(tiny_spec_dict, shared_ws, sampler,
                                                     pruner):
    data = _spec(tiny_spec_dict, sampler, pruner, FINITE if sampler == "grid" else None)
    data["name"] = f"tiny-{sampler}"
    summary = run_study(parse_spec(data), n_trials=3, workspace=shared_ws, baseline=False,
                        threads=1)
    assert summary.trials_run == 3 and summary.best_value is not None
    if sampler == "grid":
        assert summary.best_params["method.temperature"] in (1.0, 2.0, 3.0, 4.0)


def test_seed_reaches_every_seeded_sampler(tiny_spec_dict):
    for name in ("tpe", "random", "cmaes", "gp", "nsgaii", "qmc"):
        spec = parse_spec(_spec(tiny_spec_dict, name))
        a, b = build_sampler(spec, 7), build_sampler(spec, 7)
        assert type(a) is type(b)
    tpe = build_sampler(parse_spec(_spec(tiny_spec_dict, "tpe", n_startup_trials=3)), 1)
    assert tpe._n_startup_trials == 3 and tpe._constant_liar


def test_hyperband_and_halving_use_epochs(tiny_spec_dict):
    spec = parse_spec(_spec(tiny_spec_dict, "tpe", "hyperband"))
    assert build_pruner(spec)._max_resource == spec.train.epochs
    assert type(build_pruner(parse_spec(_spec(tiny_spec_dict, "tpe", "wilcoxon")))).__name__ \
        == "WilcoxonPruner"


def test_grid_space_from_nni_types():
    space = {"a": {"_type": "randint", "_value": [2, 5]},
             "b": {"_type": "choice", "_value": [[1, 2], [3]]},
             "c": {"_type": "qloguniform", "_value": [1, 8, 2]}}
    assert grid_space(space) == {"a": [2, 3, 4], "b#index": [0, 1], "c": [2.0, 4.0, 6.0, 8.0]}


@pytest.mark.parametrize("sampler,search,objectives,message", [
    ("grid", None, None, "grid sampler needs a finite space"),
    ("cmaes", FINITE, None, "cmaes sampler cannot search a choice"),
    ("cmaes", None, [{"metric": "val_acc"}, {"metric": "student_params",
                                              "direction": "minimize"}], "one objective"),
])
def test_a_sampler_that_cannot_search_the_space_is_one_error(tiny_spec_dict, sampler, search,
                                                             objectives, message):
    data = _spec(tiny_spec_dict, sampler, search=search)
    if objectives:
        data["objectives"] = objectives
    with pytest.raises(KDAutoMLError, match=message):
        parse_spec(data, "s.yaml")


def test_unknown_options_name_the_allowed_ones(tiny_spec_dict):
    with pytest.raises(KDAutoMLError, match="sampler.sigma: not an option of the tpe"):
        parse_spec(_spec(tiny_spec_dict, "tpe", sigma=1))
    data = _spec(tiny_spec_dict, "tpe")
    data["pruner"] = {"name": "hyperband", "percentile": 3}
    with pytest.raises(KDAutoMLError, match="pruner.percentile"):
        parse_spec(data)
    data["pruner"] = {"name": "simulated"}
    with pytest.raises(KDAutoMLError, match="pruner.name"):
        parse_spec(data)


def test_check_says_grid_on_a_range_is_wrong_and_mo_runs_unpruned(tiny_spec_dict, tmp_path,
                                                                  capsys):
    import yaml

    bad = tmp_path / "grid.yaml"
    bad.write_text(yaml.safe_dump(_spec(tiny_spec_dict, "grid")))
    with pytest.raises(SystemExit) as info:
        main(["check", str(bad)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "search.method.alpha" in err and "finite space" in err
    mo = _spec(tiny_spec_dict, "nsgaii", "median")
    mo["objectives"] = [{"metric": "val_acc"},
                        {"metric": "student_flops", "direction": "minimize"}]
    good = tmp_path / "mo.yaml"
    good.write_text(yaml.safe_dump(mo))
    with pytest.raises(SystemExit) as info:
        main(["check", str(good)])
    assert (info.value.code or 0) == 0
    assert "runs unpruned" in capsys.readouterr().out
    assert notes(parse_spec(mo))
