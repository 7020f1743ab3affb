"""ResKD end to end on digits with a tiny budget: the Optuna backend in process, the NNI NAS
backend through the ``kd-automl reskd`` command in a subprocess (HOME pointed at a temp folder).
"""

import copy
import os
import subprocess
import sys

import pytest
import yaml

from kd_automl.analysis.figures import is_empty
from kd_automl.analysis.reskd import accuracy_vs_compute, reskd_figures, stage_search
from kd_automl.reskd import run_reskd
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

TINY = {
    "name": "reskd-tiny",
    "dataset": {"name": "digits"},
    "teacher": {"arch": "cnn", "width": 8, "depth": 2},
    "student": {"arch": "cnn", "width": 4, "depth": 1},
    "train": {"epochs": 2, "batch_size": 256, "optimizer": "adam", "lr": 0.02,
              "weight_decay": 0.0},
    "teacher_train": {"epochs": 3, "batch_size": 128, "lr": 0.1},
    "seed": 0,
    "reskd": {"space": {"depth": [1], "width": [4, 8], "block": ["plain", "residual"],
                        "kernel": [3]},
              "max_students": 2, "trials_per_stage": 2, "energy_threshold": 0.0,
              "flops_budget": 10.0, "min_gain": -100.0, "strategy": "RegularizedEvolution"},
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace.resolve(tmp_path_factory.mktemp("reskd") / "ws")


def test_optuna_backend_end_to_end(ws):
    store = Store(ws.db_url)
    summary = run_reskd(parse_spec(copy.deepcopy(TINY)), ws, store, backend="optuna")
    assert summary.stop_reason == "max_students" and len(summary.members) == 2
    trials = store.trials()
    cands = [t for t in trials if t.role == "search"]
    (ens,) = [t for t in trials if t.role == "reskd"]
    assert 2 <= len(cands) <= 4 and all(t.method == "reskd" for t in cands)
    assert {t.extra["stage"] for t in cands} == {1, 2}
    assert set(cands[0].params) == {"depth", "width", "block", "kernel"}
    assert ens.experiment.name == "reskd-tiny-reskd" and ens.experiment.backend == "optuna"
    assert ens.extra["stop_reason"] == "max_students"
    members = ens.extra["res_students"]
    assert [m["stage"] for m in members] == [1, 2]
    fracs = [m["ensemble_flops_frac"] for m in members]
    assert fracs[1] == pytest.approx(fracs[0] + members[1]["flops_frac"])
    assert ens.student_flops == sum(m["flops"] for m in members)
    assert ens.student_test_acc == pytest.approx(members[-1]["ensemble_test_acc"])
    ad = ens.extra["adaptive"]
    assert len(ad["test"]) == len(ad["thresholds"]) and len(ad["full_test"]) == 2
    assert all(fracs[0] - 1e-9 <= p["flops_frac"] <= fracs[1] + 1e-9 for p in ad["test"])
    assert ad["chosen"]["threshold"] in ad["thresholds"]
    assert not is_empty(accuracy_vs_compute(trials)) and not is_empty(stage_search(trials))
    assert [k for k, _ in reskd_figures(trials)] == ["reskd_compute", "reskd_search"]

    # the budget rule, in the loop: no res-student fits 1e-6 of the teacher's FLOPs
    spec = copy.deepcopy(TINY) | {"name": "reskd-tiny-budget"}
    spec["reskd"] = {**spec["reskd"], "flops_budget": 1e-6}
    summary = run_reskd(parse_spec(spec), ws, store, backend="optuna")
    assert summary.stop_reason == "budget" and summary.members == []
    (row,) = [t for t in store.trials() if t.experiment.name == "reskd-tiny-budget-reskd"]
    assert row.role == "reskd" and row.state == "failed" and "budget" in row.error


def test_ctrl_c_during_a_res_student_leaves_no_row_running(ws, tmp_path, monkeypatch):
    import kd_automl.reskd.search as search

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(search, "train_res_student", stopped)  # Ctrl-C mid-training
    store = Store(f"sqlite:///{tmp_path / 'stopped.db'}")
    with pytest.raises(KeyboardInterrupt):
        run_reskd(parse_spec(copy.deepcopy(TINY)), ws, store, backend="optuna")
    (row,) = store.trials()
    assert row.role == "search" and row.state == "failed" and row.error == "interrupted"


def test_figures_have_an_empty_state():
    assert is_empty(accuracy_vs_compute([])) and is_empty(stage_search([]))
    assert reskd_figures([]) == []


def test_nni_nas_backend_through_the_command(tmp_path):
    pytest.importorskip("nni", reason='NNI is not installed (the "nni" extra)')
    spec = tmp_path / "reskd_tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY | {"name": "reskd-nni"}))
    env = {**os.environ, "HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "kd_automl", "reskd", str(spec), "--backend",
                           "nni", "--workspace", str(tmp_path / "ws")], env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stopped by max_students" in proc.stdout
    store = Store(Workspace(tmp_path / "ws").db_url)
    (ens,) = [t for t in store.trials() if t.role == "reskd"]
    assert ens.experiment.backend == "nni" and ens.extra["strategy"] == "RegularizedEvolution"
    assert len(ens.extra["nni_experiments"]) == 2 and len(ens.extra["res_students"]) == 2
    nas = tmp_path / "ws" / "nni" / "nas-experiments"
    assert all((nas / i).is_dir() for i in ens.extra["nni_experiments"])
    assert not (tmp_path / "home" / "nni-experiments").exists()  # NNI wrote in the workspace
