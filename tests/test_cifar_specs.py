"""Every shipped CIFAR spec trains: one trial of each ``search_spaces/cifar*.yaml`` at the
spec's own values (models, classes, method, optimizer, schedule, augmentation), one epoch on
a few CIFAR-shaped synthetic images, teacher included; the trial is stored with a finite loss.

Only the data (synthetic, same shape and class count), the epochs (1), the batch size (16)
and the milestones are changed; every searched key is pinned to the spec's value, so the
trial runs the spec's defaults. One workspace: each teacher trains once.
"""

import glob
import math
from pathlib import Path

import pytest
import yaml

from kd_automl.distill import get_method
from kd_automl.optuna import run_study
from kd_automl.reskd import run_reskd
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(glob.glob(str(ROOT / "search_spaces" / "cifar*.yaml")))
SMOKE = {"epochs": 1, "batch_size": 16, "milestones": []}


def _pinned(data: dict, key: str):
    """The spec's value at dotted ``key`` (a method's own default when the spec omits it)."""
    section, _, field = key.partition(".")
    if section == "method" and field not in data["method"]:
        return get_method(data["method"]["name"]).hyperparameters[field].default
    node = data
    for part in key.split("."):
        node = node[part]
    return node


def smoke_spec(path: str) -> dict:
    data = yaml.safe_load(open(path))
    classes = {"cifar10": 10, "cifar100": 100}[data["dataset"]["name"]]
    data["dataset"] = {"name": "synthetic", "num_samples": 48, "num_classes": classes,
                       "val_fraction": 0.17, "test_fraction": 0.17}
    for section in ("train", "teacher_train"):
        if section in data:
            data[section].update(SMOKE)
    data["search"] = {k: {"_type": "choice", "_value": [_pinned(data, k)]}
                      for k in data.get("search", {})}
    if "reskd" in data:  # one res-student, trained whatever its FLOPs and its gain
        data["reskd"].update(max_students=1, trials_per_stage=1, flops_budget=10.0,
                             min_gain=-100.0)
    return data


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace.resolve(tmp_path_factory.mktemp("cifar-specs") / "ws")


def test_every_cifar_spec_is_covered():
    names = {Path(p).name for p in SPECS}
    assert {"cifar100_rocket.yaml", "cifar100_moonshine.yaml", "cifar10_reskd.yaml"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", SPECS, ids=[Path(p).stem for p in SPECS])
def test_spec_trains_one_epoch_at_its_defaults(ws, path, one_thread):
    spec = parse_spec(smoke_spec(path))
    store = Store(ws.db_url)
    if spec.reskd is not None:
        run_reskd(spec, ws, store, backend="optuna")  # the candidate res-student's trial
        trials = [t for t in store.trials(with_epochs=True)
                  if t.experiment.name.startswith(spec.name) and t.role == "search"]
        assert trials and all(t.state == "complete" for t in trials), [t.error for t in trials]
        assert all(math.isfinite(t.student_val_acc) for t in trials)
        return
    else:
        run_study(spec, n_trials=1, workspace=ws.root, baseline=False, threads=1)
        exp = store.experiments([spec.name])[0]
        trials = store.trials([exp.id], with_epochs=True)
    assert trials and all(t.state == "complete" for t in trials), [t.error for t in trials]
    losses = [m.value for t in trials for m in t.epochs if m.name == "train_loss"]
    assert losses and all(math.isfinite(v) for v in losses), losses
