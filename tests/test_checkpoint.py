"""Checkpoint and resume: a trial stopped mid-way continues at the next epoch with the curve
of a run never stopped (CPU, same seed), a damaged checkpoint restarts from zero and says so,
and a trial process killed with SIGKILL is continued by its retry."""

import copy
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import torch
import yaml
from conftest import TINY

from kd_automl.engine.checkpoint import AUTO_INTERVAL_S, FINAL_INTERVAL_S, Checkpoint
from kd_automl.engine.result import TrialResult
from kd_automl.engine.teacher import load_teacher, teacher_args
from kd_automl.engine.train import fit
from kd_automl.engine.trial import build_distiller, get_dataset
from kd_automl.orchestrate.artifacts import checkpoint_dir
from kd_automl.orchestrate.runner import PlannedList, PlannedTrial, run_trials
from kd_automl.spec import load_spec, parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

pytestmark = pytest.mark.usefixtures("one_thread")


class Stop(BaseException):
    """What a SIGTERM or Ctrl-C is to the loop: not an Exception."""


def _spec(**train):
    data = copy.deepcopy(TINY)
    # dropout (the global RNG), augmentation (its own generator), BatchNorm buffers, momentum
    data["student"] = {"arch": "mlp", "width": 16, "depth": 2, "dropout": 0.2, "batchnorm": True}
    data["train"].update(epochs=5, augment="crop_flip", schedule="step", milestones=[3],
                         **train)
    return parse_spec(data)


def _fit(spec, workspace, checkpoint=None, stop_after=None):
    data = get_dataset(spec)
    teacher = load_teacher(spec, data, workspace, torch.device("cpu"), TrialResult())
    distiller = build_distiller(spec, data, torch.device("cpu"))
    seen = []

    def on_epoch(epoch, metrics):
        seen.append(epoch)
        if stop_after is not None and epoch == stop_after:
            raise Stop()

    curve = fit(distiller, data.x_train, data.y_train, spec.train, torch.device("cpu"),
                **teacher_args(teacher, spec, data, torch.device("cpu")),
                val=(data.x_val, data.y_val), seed=spec.seed, on_epoch=on_epoch,
                checkpoint=checkpoint)
    return curve, seen


def _values(curve):
    return [{k: v for k, v in m.items()} for m in curve]


def test_a_stopped_fit_continues_at_the_next_epoch_with_the_same_curve(tmp_path):
    spec = _spec()
    ws = Workspace(tmp_path / "ws")
    reference, _ = _fit(spec, ws)
    ckpt = Checkpoint(tmp_path / "ckpt", every=1)
    with pytest.raises(Stop):
        _fit(spec, ws, ckpt, stop_after=3)
    assert ckpt.saved_epoch == 2  # the stop came in epoch 3's report, before its save
    again = Checkpoint(tmp_path / "ckpt", every=1)
    curve, seen = _fit(spec, ws, again)
    assert again.notes == ["resumed from the checkpoint after epoch 2"]
    assert seen == [1, 2, 3, 4, 5]  # the restored epochs are reported again (the pruner)
    assert len(curve) == 5
    for ours, theirs in zip(curve, reference, strict=True):
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert ours[key] == pytest.approx(theirs[key], rel=1e-6, abs=1e-7), key


def test_a_damaged_checkpoint_restarts_from_zero_and_says_so(tmp_path):
    spec = _spec()
    ws = Workspace(tmp_path / "ws")
    reference, _ = _fit(spec, ws)
    ckpt = Checkpoint(tmp_path / "ckpt", every=1)
    with pytest.raises(Stop):
        _fit(spec, ws, ckpt, stop_after=3)
    state = ckpt.state_path
    state.write_bytes(state.read_bytes()[:-10] + b"0123456789")
    again = Checkpoint(tmp_path / "ckpt", every=1)
    curve, seen = _fit(spec, ws, again)
    assert len(again.notes) == 1 and "checksum differs" in again.notes[0]
    assert "restarts from epoch 0" in again.notes[0]
    assert seen == [1, 2, 3, 4, 5]
    assert curve[-1]["val_acc"] == pytest.approx(reference[-1]["val_acc"])


def test_when_a_checkpoint_is_due():
    assert [e for e in range(1, 7) if Checkpoint("x", every=2).due(e, 6)] == [2, 4]
    assert not any(Checkpoint("x", every=0).due(e, 6) for e in range(1, 7))
    # unset: by the time since the last save (10 s for a final run, 60 s for the others)
    final, search = Checkpoint("x", role="final"), Checkpoint("x", role="search")
    assert not final.due(1, 6) and not search.due(1, 6)
    final._last_save -= FINAL_INTERVAL_S
    search._last_save -= FINAL_INTERVAL_S
    assert final.due(1, 6) and not final.due(6, 6) and not search.due(1, 6)
    search._last_save -= AUTO_INTERVAL_S
    assert search.due(1, 6)


def _train_process(spec_file, ws):
    """``kd-automl train SPEC`` in a process of its own, as a user's shell runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "kd_automl", "train", str(spec_file),
                             "--workspace", str(ws), "--threads", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_trial_killed_with_sigkill_continues_from_its_checkpoint_when_retried(tmp_path):
    data = copy.deepcopy(TINY)
    data["student"] = {"arch": "cnn", "width": 8}
    data["train"].update(epochs=8, checkpoint_every=1)
    data.pop("search")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    spec = parse_spec(data)

    # the same training never stopped, in a workspace of its own
    ref_ws = Workspace.resolve(tmp_path / "ref")
    out, err = _train_process(spec_file, ref_ws.root).communicate(timeout=240)
    reference = Store(ref_ws.db_url).trials(role="final", with_epochs=True)[0]
    assert reference.state == "complete", err

    ws = Workspace.resolve(tmp_path / "ws")
    folder = checkpoint_dir(ws, spec.name, spec)
    proc = _train_process(spec_file, ws.root)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        meta = folder / "state.json"
        if meta.is_file() and yaml.safe_load(meta.read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the trial ended before it was killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = yaml.safe_load((folder / "state.json").read_text())["epoch"]
    assert 3 <= killed_at < 8
    store = Store(ws.db_url)
    assert store.trials(role="final")[0].state == "running"  # nothing could mark it: SIGKILL

    retry = _train_process(spec_file, ws.root)  # kd-automl train again: it continues
    out, err = retry.communicate(timeout=240)
    assert retry.returncode == 0, err
    trial = store.trials(role="final", with_epochs=True)[0]
    assert trial.state == "complete"
    assert trial.extra["checkpoint"] == [f"resumed from the checkpoint after epoch {killed_at}"]
    assert not folder.exists()  # the trial ended: its checkpoint is gone

    def curve(t):
        return sorted((e.epoch, e.name, e.value) for e in t.epochs)

    ours, theirs = curve(trial), curve(reference)
    assert [(e, n) for e, n, _ in ours] == [(e, n) for e, n, _ in theirs]
    assert max(e for e, _, _ in ours) == 8
    for (_, name, a), (_, _, b) in zip(ours, theirs, strict=True):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-7), name
    assert trial.student_test_acc == pytest.approx(reference.student_test_acc)
    assert trial.weights is not None and trial.weights.path.is_file()  # final keeps its own


def test_a_resumed_search_continues_a_trial_ctrl_c_interrupted(tmp_path):
    from kd_automl.orchestrate.continue_interrupted import CONTINUES
    from kd_automl.orchestrate.optuna.run import run_study

    data = copy.deepcopy(TINY)
    data["student"] = {"arch": "cnn", "width": 8}
    data["train"].update(epochs=8, checkpoint_every=1)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    ws = tmp_path / "ws"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KD_AUTOML_WORKSPACE": str(ws)}
    proc = subprocess.Popen([sys.executable, "-m", "kd_automl", "optuna", str(spec_file),
                             "--trials", "3"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        metas = list((ws / "checkpoints").glob("*/*/state.json"))
        if metas and yaml.safe_load(metas[0].read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the search ended before the stop: {proc.communicate()}"
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    store = Store(f"sqlite:///{ws / 'kd_automl.db'}")
    stopped = [t for t in store.trials(role="search") if t.state == "failed"]
    assert len(stopped) == 1 and stopped[0].error == "interrupted"
    at = stopped[0].extra["checkpoint_epoch"]
    assert at >= 3

    summary = run_study(load_spec(spec_file), n_trials=1, workspace=ws, baseline=False)
    assert len(summary.continued) == 1 and f"after epoch {at}" in summary.continued[0]
    study = optuna.load_study(study_name="tiny-kd", storage=summary.db)
    again = [t for t in study.trials if t.user_attrs.get(CONTINUES) is not None]
    assert len(again) == 1 and again[0].state == optuna.trial.TrialState.COMPLETE
    assert again[0].user_attrs[CONTINUES] == int(stopped[0].backend_trial_id)
    row = store.trials_by_id([again[0].user_attrs["kd_trial_id"]], with_epochs=True)[0]
    assert row.params == stopped[0].params
    assert row.extra["checkpoint"] == [f"resumed from the checkpoint after epoch {at}"]
    assert sorted({e.epoch for e in row.epochs if e.name == "val_acc"}) == list(range(1, 9))
    assert sorted(again[0].intermediate_values) == list(range(1, 9))  # the pruner's view
    # a second resume does not continue it again
    assert run_study(load_spec(spec_file), n_trials=0, workspace=ws,
                     baseline=False).continued == []


class _StopAt:
    """A reporter that stops the whole run (as Ctrl-C would) in epoch ``epoch``'s report."""

    def __init__(self, epoch):
        self.epoch = epoch

    def report_epoch(self, epoch, metrics):
        if epoch == self.epoch:
            raise Stop()

    def report_final(self, result):
        pass


def test_a_stopped_fused_group_continues_each_member_from_its_checkpoint(tmp_path):
    data = {"name": "fused-ckpt", "dataset": {"name": "digits"},
            "teacher": {"arch": "cnn", "width": 8, "depth": 2},
            "student": {"arch": "cnn", "width": 4, "depth": 2}, "method": {"name": "kd"},
            "train": {"epochs": 5, "batch_size": 64, "lr": 0.05, "augment": "crop",
                      "checkpoint_every": 1},
            "teacher_train": {"epochs": 2, "batch_size": 64, "lr": 0.05}}
    spec = parse_spec(data)
    points = [{"method.temperature": 2.0}, {"method.temperature": 6.0, "train.lr": 0.1}]

    def planned(reporters=None):
        from kd_automl.engine import NullReporter
        from kd_automl.spec import apply_params

        return [PlannedTrial(str(i), apply_params(spec, p), p,
                             reporter=(reporters or {}).get(i, NullReporter()))
                for i, p in enumerate(points)]

    def run(ws, trials):
        store = Store(ws.db_url)
        try:
            run_trials(PlannedList(trials, spec), store, store.experiment(spec, "script"), ws,
                       fuse=2)
        finally:
            rows = {t.backend_trial_id: t for t in store.trials(with_epochs=True)}
        return rows

    reference = run(Workspace.resolve(tmp_path / "ref"), planned())
    ws = Workspace.resolve(tmp_path / "ws")
    with pytest.raises(Stop):
        run(ws, planned({0: _StopAt(3)}))
    stopped = {t.backend_trial_id: t for t in Store(ws.db_url).trials()}
    assert {t.error for t in stopped.values()} == {"interrupted"}
    assert {t.extra["checkpoint_epoch"] for t in stopped.values()} == {2}
    rows = run(ws, planned())
    for key, ref in reference.items():
        t = rows[key]
        assert t.state == "complete" and "fused" in t.extra
        assert t.extra["checkpoint"] == ["resumed from the checkpoint after epoch 2"]
        ours = sorted((e.epoch, e.name, e.value) for e in t.epochs)
        theirs = sorted((e.epoch, e.name, e.value) for e in ref.epochs)
        assert [(e, n) for e, n, _ in ours] == [(e, n) for e, n, _ in theirs]
        for (_, name, a), (_, _, b) in zip(ours, theirs, strict=True):
            assert a == pytest.approx(b, rel=1e-5, abs=1e-6), (key, name)
        assert t.student_test_acc == pytest.approx(ref.student_test_acc)
