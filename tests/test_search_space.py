"""NNI search-space validation and its mapping onto Optuna, for every _type."""

import math

import optuna
import pytest

from kd_automl.errors import KDAutoMLError
from kd_automl.search import suggest_params, validate_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "c": {"_type": "choice", "_value": ["a", "b", 3]},
    "cl": {"_type": "choice", "_value": [[1, 2], [3]]},
    "ri": {"_type": "randint", "_value": [2, 5]},
    "u": {"_type": "uniform", "_value": [-1.0, 1.0]},
    "qu": {"_type": "quniform", "_value": [0.1, 1.0, 0.25]},
    "lu": {"_type": "loguniform", "_value": [1e-3, 1.0]},
    "qlu": {"_type": "qloguniform", "_value": [1, 100, 5]},
    "n": {"_type": "normal", "_value": [10.0, 2.0]},
    "qn": {"_type": "qnormal", "_value": [0.0, 1.0, 0.5]},
    "ln": {"_type": "lognormal", "_value": [0.0, 0.5]},
    "qln": {"_type": "qlognormal", "_value": [1.0, 0.5, 0.1]},
    "nested": {"_type": "choice", "_value": [
        {"_name": "kd", "temperature": {"_type": "uniform", "_value": [1, 5]}},
        {"_name": "ce"},
    ]},
}


def _sample(n=200, sampler=None):
    study = optuna.create_study(sampler=sampler or optuna.samplers.RandomSampler(seed=1))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(suggest_params(trial, SPACE))
        study.tell(trial, 0.0)
    return out


def test_every_type_samples_inside_its_nni_semantics():
    validate_space(SPACE)
    pts = _sample()
    assert {p["c"] for p in pts} == {"a", "b", 3}
    assert {tuple(p["cl"]) for p in pts} == {(1, 2), (3,)}
    assert {p["ri"] for p in pts} == {2, 3, 4}  # randint's upper bound is exclusive
    assert all(-1 <= p["u"] <= 1 for p in pts)
    assert {p["qu"] for p in pts} <= {0.25, 0.5, 0.75, 1.0}
    assert all(1e-3 <= p["lu"] <= 1 for p in pts)
    assert all(p["qlu"] % 5 == 0 and 5 <= p["qlu"] <= 100 for p in pts)
    assert all(p["qn"] % 0.5 == 0 for p in pts)
    assert all(p["ln"] > 0 for p in pts)
    assert all(math.isclose(round(p["qln"] / 0.1) * 0.1, p["qln"]) for p in pts)
    names = {p["nested"]["_name"] for p in pts}
    assert names == {"kd", "ce"}
    assert all(1 <= p["nested"]["temperature"] <= 5 for p in pts if p["nested"]["_name"] == "kd")
    assert all(set(p["nested"]) == {"_name"} for p in pts if p["nested"]["_name"] == "ce")


def test_normal_keeps_its_prior_mean_and_spread():
    ns = [p["n"] for p in _sample(800)]
    mean = sum(ns) / len(ns)
    sd = (sum((v - mean) ** 2 for v in ns) / len(ns)) ** 0.5
    assert mean == pytest.approx(10.0, abs=0.3)
    assert sd == pytest.approx(2.0, abs=0.3)


def test_tpe_runs_on_the_whole_space():
    pts = _sample(15, optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    assert len(pts) == 15


@pytest.mark.parametrize("entry, message", [
    ({"_type": "gaussian", "_value": [0, 1]}, "unsupported _type"),
    ({"_type": "uniform", "_value": [1, 1]}, "low < high"),
    ({"_type": "uniform", "_value": [2, 1]}, "low < high"),
    ({"_type": "uniform", "_value": [0]}, "takes 2 numbers"),
    ({"_type": "loguniform", "_value": [0, 1]}, "low > 0"),
    ({"_type": "quniform", "_value": [0.1, 0.2, 0.5]}, "no multiple"),
    ({"_type": "quniform", "_value": [0, 1, 0]}, "q > 0"),
    ({"_type": "normal", "_value": [0, -1]}, "sigma > 0"),
    ({"_type": "randint", "_value": [0.5, 3]}, "integers"),
    ({"_type": "choice", "_value": []}, "non-empty"),
    ({"_type": "choice", "_value": [{"temperature": 1}]}, "_name"),
    ({"_type": "uniform", "_value": ["a", "b"]}, "numbers"),
    ({"_value": [0, 1]}, "expected {_type"),
])
def test_impossible_or_malformed_entries_are_errors(entry, message):
    with pytest.raises(KDAutoMLError, match=message) as err:
        validate_space({"method.alpha": entry})
    assert "method.alpha" in str(err.value)
