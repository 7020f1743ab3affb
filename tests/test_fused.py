"""Fused trials: each member of a group is the model it would be trained alone."""

import pytest
from conftest import wait_for

from kd_automl.engine import NullReporter, run_trial
from kd_automl.engine.fused import FusedGroup, group_key
from kd_automl.engine.fused_students import NotFusable
from kd_automl.engine.trial import get_dataset
from kd_automl.errors import TrialPruned
from kd_automl.spec import apply_params, parse_spec
from kd_automl.workspace import Workspace

DIGITS = {
    "name": "fused-digits", "dataset": {"name": "digits"},
    "teacher": {"arch": "cnn", "width": 8, "depth": 2},
    "student": {"arch": "cnn", "width": 4, "depth": 2},
    "method": {"name": "kd"},
    "train": {"epochs": 2, "batch_size": 64, "lr": 0.05},
    "teacher_train": {"epochs": 2, "batch_size": 64, "lr": 0.05},
}
# CIFAR-shaped: 3x32x32 images, ResNets, crop+flip on the device (the teacher runs per batch)
CIFAR_SHAPED = {
    "name": "fused-cifar", "dataset": {"name": "synthetic", "num_samples": 320, "noise": 2.0},
    "teacher": {"arch": "resnet8", "width": 0.5},
    "student": {"arch": "resnet8", "width": 0.25},
    "method": {"name": "fitnet", "feat_weight": 10.0},
    "train": {"epochs": 2, "batch_size": 32, "lr": 0.02, "augment": "crop_flip"},
    "teacher_train": {"epochs": 1, "batch_size": 32, "lr": 0.05},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def _fused(spec, members, workspace, capacity=None, reporters=None):
    group = FusedGroup(spec, workspace, capacity or len(members))
    queue = [(i, s, (reporters or {}).get(i, NullReporter())) for i, s in enumerate(members)]
    results = {}
    group.run(lambda: queue.pop(0) if queue else None,
              lambda key, result: results.__setitem__(key, result))
    return results


def _assert_same_training(alone, fused, n_val):
    assert fused.status == alone.status == "complete", fused.error
    assert len(fused.curve) == len(alone.curve)
    for a, f in zip(alone.curve, fused.curve, strict=True):
        assert abs(a["val_acc"] - f["val_acc"]) <= 1.0 / n_val + 1e-9  # at most one sample
        for k in a:
            if k.startswith("train_"):
                assert f[k] == pytest.approx(a[k], rel=1e-4, abs=1e-5), k
    assert abs(alone.student_test_acc - fused.student_test_acc) <= 0.01
    assert fused.student_params == alone.student_params
    assert fused.teacher_test_acc == alone.teacher_test_acc


@pytest.mark.parametrize("base, variants", [
    (DIGITS, [{"train.lr": 0.05, "method.temperature": 4.0},
              {"train.lr": 0.1, "train.seed": 3, "method.alpha": 0.5},
              {"train.weight_decay": 0.0, "train.momentum": 0.5, "train.seed": 7,
               "method.temperature": 2.0}]),
    (CIFAR_SHAPED, [{"train.seed": 1}, {"train.seed": 2, "method.feat_weight": 1.0,
                                        "train.lr": 0.05}]),
], ids=["digits-kd", "cifar-shaped-fitnet-crop-flip"])
def test_each_member_equals_its_trial_run_alone(tmp_path, base, variants):
    ws = Workspace.resolve(tmp_path / "ws")
    spec = parse_spec(base)
    members = [apply_params(spec, v) for v in variants]
    fused = _fused(spec, members, ws)
    for i, member_spec in enumerate(members):
        alone = run_trial(member_spec, ws)
        _assert_same_training(alone, fused[i], len(get_dataset(member_spec).y_val))
        assert fused[i].extra["fused"] == {"capacity": len(members), "joined_epoch": 0}


@pytest.mark.parametrize("method", ["kd", "dkd", "srd", "fitnet", "at", "ce", "ctkd", "dist",
                                    "wttm"])
def test_every_fusable_method_trains_members_as_alone(tmp_path, method):
    ws = Workspace.resolve(tmp_path / "ws")
    spec = parse_spec({**DIGITS, "method": {"name": method},
                       "train": {**DIGITS["train"], "epochs": 1}})
    members = [apply_params(spec, {"train.seed": s, "train.lr": lr})
               for s, lr in ((0, 0.05), (1, 0.02))]
    fused = _fused(spec, members, ws)
    for i, member_spec in enumerate(members):
        _assert_same_training(run_trial(member_spec, ws), fused[i],
                              len(get_dataset(member_spec).y_val))


def test_logit_standardized_members_train_as_alone(tmp_path):
    ws = Workspace.resolve(tmp_path / "ws")
    spec = parse_spec({**DIGITS, "method": {"name": "dkd", "logit_std": True, "warmup": 0},
                       "train": {**DIGITS["train"], "epochs": 1}})
    members = [apply_params(spec, {"train.seed": s, "method.temperature": t})
               for s, t in ((0, 2.0), (1, 3.0))]
    fused = _fused(spec, members, ws)
    for i, member_spec in enumerate(members):
        _assert_same_training(run_trial(member_spec, ws), fused[i],
                              len(get_dataset(member_spec).y_val))


def test_noisy_teacher_members_keep_their_own_random_stream(tmp_path):
    ws = Workspace.resolve(tmp_path / "ws")
    spec = parse_spec({**DIGITS, "method": {"name": "noisy_kd", "sigma": 0.5}})
    members = [apply_params(spec, {"train.seed": s}) for s in (0, 1)]
    fused = _fused(spec, members, ws)
    for i, member_spec in enumerate(members):
        alone = run_trial(member_spec, ws)
        assert [c["train_kd"] for c in fused[i].curve] == pytest.approx(
            [c["train_kd"] for c in alone.curve], rel=1e-4)


class PruneAt:
    def __init__(self, epoch):
        self.epoch = epoch

    def report_epoch(self, epoch, metrics):
        if epoch == self.epoch:
            raise TrialPruned("told to")

    def report_final(self, result):
        pass


def test_pruned_member_leaves_and_its_slot_is_refilled(tmp_path):
    ws = Workspace.resolve(tmp_path / "ws")
    spec = parse_spec({**DIGITS, "train": {**DIGITS["train"], "epochs": 3}})
    members = [apply_params(spec, {"train.seed": s}) for s in range(4)]
    group = FusedGroup(spec, ws, capacity=2)
    queue = [(0, members[0], PruneAt(1)), (1, members[1], NullReporter()),
             (2, members[2], NullReporter()), (3, members[3], NullReporter())]
    sizes, results = [], {}

    def next_member():
        return queue.pop(0) if queue else None

    def on_done(key, result):
        results[key] = result
        sizes.append(len(group.members))

    group.run(next_member, on_done)
    assert results[0].status == "pruned" and len(results[0].curve) == 1
    assert results[0].student_val_acc == results[0].curve[-1]["val_acc"]
    # trial 2 took trial 0's slot after epoch 1, trial 3 took trial 1's after epoch 3
    assert results[2].extra["fused"]["joined_epoch"] == 1
    assert results[3].extra["fused"]["joined_epoch"] == 3
    assert all(results[k].status == "complete" and len(results[k].curve) == 3
               for k in (1, 2, 3))


def test_a_diverging_or_crashing_member_fails_alone(tmp_path):
    ws = Workspace.resolve(tmp_path / "ws")
    spec = parse_spec({**DIGITS, "method": {"name": "fitnet"}})
    ok = apply_params(spec, {})
    diverges = apply_params(spec, {"train.lr": 1e6, "method.feat_weight": 1e6})
    crashes = apply_params(spec, {"method.hint_layer": 7})  # no such feature: IndexError
    results = _fused(spec, [ok, diverges, crashes], ws)
    assert results[0].status == "complete"
    assert results[1].status == "failed" and results[1].error.startswith("diverged")
    assert results[2].status == "failed" and "IndexError" in results[2].error


def test_group_key_and_what_cannot_fuse(tmp_path):
    spec = parse_spec(DIGITS)
    assert group_key(spec) == group_key(apply_params(spec, {"train.lr": 0.2,
                                                             "method.alpha": 0.1}))
    assert group_key(spec) != group_key(apply_params(spec, {"student.width": 8}))
    assert group_key(spec) != group_key(apply_params(spec, {"seed": 1}))
    ws = Workspace.resolve(tmp_path / "ws")
    with pytest.raises(NotFusable, match="dml"):
        FusedGroup(parse_spec({**DIGITS, "method": {"name": "dml"}}), ws, 2)


def test_fused_optuna_search_stores_every_member_and_refills_pruned_slots(workspace,
                                                                        tiny_spec_dict):
    from kd_automl.optuna import run_study
    from kd_automl.store import Store

    tiny_spec_dict.update(name="fused-search", fuse=4,
                          pruner={"name": "median", "startup_trials": 2, "warmup_epochs": 0})
    tiny_spec_dict["train"].update(epochs=4, batch_size=64)
    tiny_spec_dict["search"]["train.lr"] = {"_type": "loguniform", "_value": [1e-5, 0.5]}
    epochs = tiny_spec_dict["train"]["epochs"]
    events = []
    summary = run_study(parse_spec(tiny_spec_dict), n_trials=12, on_trial=events.append,
                        threads=1)
    assert summary.trials_run == 12
    search = [t for t in Store(summary.db).trials(with_epochs=True) if t.role == "search"]
    assert len(search) == 12 and {t.state for t in search} <= {"complete", "pruned"}
    pruned = [t for t in search if t.state == "pruned"]
    assert pruned, "the median pruner stopped no trial: the refill path was not exercised"
    for t in search:
        assert t.extra["fused"]["capacity"] == 4
        assert sorted({m.epoch for m in t.epochs}) == list(
            range(1, (epochs if t.state == "complete" else len({m.epoch for m in t.epochs}))
                  + 1))
    # a slot freed by a pruned member mid-stream was taken by a new trial at once
    joined = [t.extra["fused"]["joined_epoch"] for t in search]
    assert any(j % epochs for j in joined)
    assert len([e for e in events if e.role == "search"]) == 12


def test_searches_that_cannot_fuse_say_why_and_run_one_at_a_time(workspace, tiny_spec_dict,
                                                                 caplog):
    from kd_automl.optuna import run_study
    from kd_automl.orchestrate.fused_search import fuse_blocker

    spec = parse_spec(tiny_spec_dict)
    assert fuse_blocker(spec) is None
    assert "student.width" in fuse_blocker(parse_spec(
        {**tiny_spec_dict, "search": {"student.width": {"_type": "choice", "_value": [4, 8]}}}))
    assert "dml" in fuse_blocker(parse_spec({**tiny_spec_dict, "method": {"name": "dml"},
                                             "search": {}}))
    no_teacher_recipe = {k: v for k, v in tiny_spec_dict.items() if k != "teacher_train"}
    no_teacher_recipe["search"] = {"train.lr": {"_type": "uniform", "_value": [0.01, 0.1]}}
    assert "teacher_train" in fuse_blocker(parse_spec(no_teacher_recipe))

    tiny_spec_dict.update(name="unfusable", fuse=4)
    tiny_spec_dict["train"]["epochs"] = 1
    tiny_spec_dict["search"] = {"student.width": {"_type": "choice", "_value": [4, 8]}}
    with caplog.at_level("WARNING"):
        summary = run_study(parse_spec(tiny_spec_dict), n_trials=2, baseline=False, threads=1)
    assert summary.trials_run == 2
    assert "running trials one at a time: the search varies student.width" in caplog.text


@pytest.mark.slow
def test_sigterm_during_a_fused_search_leaves_no_member_running(tmp_path, tiny_spec_dict):
    import signal
    import subprocess
    import sys
    import time

    import optuna
    import yaml

    from kd_automl.store import Store

    tiny_spec_dict.update(name="fused-stop", fuse=3)
    # longer than the test waits (the signal ends it; the baseline trains them too): with 30
    # epochs the first group could end before the signal and the second one was stopped
    tiny_spec_dict["train"]["epochs"] = 120
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(tiny_spec_dict))
    ws = tmp_path / "ws"
    db = f"sqlite:///{ws / 'kd_automl.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "kd_automl", "optuna", str(spec_file),
                             "--trials", "9", "--workspace", str(ws), "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def members_training():
        try:
            return sum(t.state == "running" and t.role == "search" for t in Store(db).trials())
        except Exception:  # not created yet
            return 0

    try:
        wait_for(lambda: members_training() == 3, what="the fused group to start")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    trials = [t for t in Store(db).trials() if t.role == "search"]
    assert len(trials) == 3 and all(t.state == "failed" and t.error == "interrupted"
                                    for t in trials)
    study = optuna.load_study(study_name="fused-stop", storage=db)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
