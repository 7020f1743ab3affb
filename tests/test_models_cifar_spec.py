"""The CIFAR-100 ResNet32x4 -> ResNet8x4 spec runs through `kd-automl optuna` on a smoke budget.

Same file, same CLI and engine path; only the dataset (synthetic, CIFAR-shaped,
100 classes) and the budget are overridden.
"""

import pytest
import torch
import yaml

from kd_automl.cli import main
from kd_automl.models import build_model, count_params
from kd_automl.spec import load_spec
from kd_automl.store import Store, leaderboard

SPEC = "search_spaces/cifar100_resnet32x4_resnet8x4_kd.yaml"


def test_spec_has_the_literature_defaults():
    spec = load_spec(SPEC)
    t = spec.train
    assert (spec.teacher.arch, spec.student.arch, spec.dataset.name) == \
        ("resnet32x4", "resnet8x4", "cifar100")
    assert (t.epochs, t.optimizer, t.lr, t.milestones, t.batch_size, t.weight_decay) == \
        (240, "sgd", 0.05, [150, 180, 210], 64, 5e-4)
    assert t.schedule == "step" and spec.method.options["temperature"] == 4.0
    assert spec.teacher_budget.epochs == 240


@pytest.mark.slow
def test_spec_runs_on_a_smoke_budget(tmp_path, capsys):
    data = yaml.safe_load(open(SPEC))
    data["dataset"] = {"name": "synthetic", "num_samples": 20, "num_classes": 100,
                       "val_fraction": 0.2}
    smoke = {"epochs": 1, "batch_size": 16, "milestones": []}
    data["train"].update(smoke)
    data["teacher_train"].update(smoke)
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(data))
    ws = tmp_path / "ws"
    with pytest.raises(SystemExit) as exit_:
        main(["optuna", str(path), "--trials", "1", "--workspace", str(ws)])
    assert (exit_.value.code or 0) == 0, capsys.readouterr()
    rows = leaderboard(Store(f"sqlite:///{ws / 'kd_automl.db'}"),
                       ["cifar100-resnet32x4-resnet8x4-kd"])
    assert len(rows) == 1 and rows[0].teacher_test_acc is not None
    with torch.device("meta"):
        params = count_params(build_model("resnet8x4", (3, 32, 32), 100))
    assert rows[0].student_params == params
