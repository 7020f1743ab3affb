"""Weights of finished trials, kept by the spec's ``artifacts:`` policy (tiny digits runs)."""

import logging

import optuna
import pytest
import torch

from kd_automl.engine.train import evaluate
from kd_automl.engine.trial import get_dataset
from kd_automl.errors import TrialPruned
from kd_automl.export import load_student
from kd_automl.files import sha256_of
from kd_automl.optuna import run_study
from kd_automl.orchestrate.artifacts import optuna_artifact_dir
from kd_automl.orchestrate.runner import PlannedList, PlannedTrial, run_trials
from kd_automl.spec import apply_params, parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace


def _files(ws):
    return sorted((ws / "artifacts").rglob("*.pt")) if (ws / "artifacts").exists() else []


def _test_acc(path, spec, sha256=None):
    data = get_dataset(spec)
    return evaluate(load_student(path, expected_sha256=sha256), data.x_test, data.y_test,
                    torch.device("cpu"))


def test_a_study_keeps_the_top_k_weights_registered_in_optunas_store(workspace, tiny_spec_dict,
                                                                     one_thread):
    tiny_spec_dict["artifacts"] = {"keep": "top", "top": 2}
    tiny_spec_dict["train"]["epochs"] = 2
    spec = parse_spec(tiny_spec_dict)
    summary = run_study(spec, n_trials=5, baseline=False)
    store = Store(summary.db)
    search = store.trials(role="search", states=["complete"])
    assert len(search) == 5
    best = sorted(search, key=lambda t: (-t.objective, t.id))[:2]
    kept = [t for t in search if t.weights is not None]
    assert {t.id for t in kept} == {t.id for t in best}
    assert _files(workspace) == sorted(t.weights.path for t in kept)
    study = optuna.load_study(study_name=summary.study_name, storage=summary.db)
    by_number = {str(t.number): t for t in study.get_trials()}
    art_dir = optuna_artifact_dir(Workspace(workspace))
    for t in kept:
        w = t.weights
        assert w.path == workspace.resolve() / "artifacts" / "tiny-kd" / str(t.id) / "student.pt"
        assert w.size == w.path.stat().st_size and w.sha256 == sha256_of(w.path)
        assert _test_acc(w.path, apply_params(spec, t.params), w.sha256) == \
            pytest.approx(t.student_test_acc)
        metas = optuna.artifacts.get_all_artifact_meta(by_number[t.backend_trial_id],
                                                       storage=study._storage)
        assert [m.artifact_id for m in metas] == [w.optuna_artifact_id]
        assert metas[0].filename == "student.pt"
        assert sha256_of(art_dir / w.optuna_artifact_id) == w.sha256
        assert (art_dir / w.optuna_artifact_id).samefile(w.path)  # one file on disk, not two
    # the files of trials that fell out of the top 2 are gone, from Optuna's store too
    assert sorted(p.name for p in art_dir.iterdir()) == sorted(t.weights.optuna_artifact_id
                                                               for t in kept)


class _PruneAt:
    def __init__(self, epoch):
        self.epoch = epoch

    def report_epoch(self, epoch, metrics):
        if epoch >= self.epoch:
            raise TrialPruned()

    def report_final(self, result):
        pass


def _run(workspace, spec, trials, fuse=1):
    ws = Workspace.resolve(workspace)
    store = Store(ws.db_url)
    exp = store.experiment(spec, "script")
    run_trials(PlannedList(trials, spec), store, exp, ws, fuse=fuse)
    return store, {t.backend_trial_id: t for t in store.trials([exp])}


def _planned(spec, key, role="search", **params):
    return PlannedTrial(key, apply_params(spec, params), params, role=role)


def test_keep_none_writes_nothing(workspace, tiny_spec_dict, one_thread):
    tiny_spec_dict["artifacts"] = {"keep": "none"}
    spec = parse_spec(tiny_spec_dict)
    _, rows = _run(workspace, spec, [_planned(spec, "1", **{"method.alpha": 0.5}),
                                     _planned(spec, "c", role="confirm")])
    assert all(t.state == "complete" and t.weights is None for t in rows.values())
    assert _files(workspace) == []


def test_pruned_and_failed_trials_keep_nothing_confirm_runs_always_do(workspace, tiny_spec_dict,
                                                                       one_thread):
    tiny_spec_dict["artifacts"] = {"keep": "top", "top": 1}
    spec = parse_spec(tiny_spec_dict)
    pruned = _planned(spec, "pruned")
    pruned.reporter = _PruneAt(1)
    failed = PlannedTrial("failed", None, {}, error="not a valid point")
    best = _planned(spec, "best", **{"train.lr": 0.1})
    confirm = _planned(spec, "confirm", role="confirm", **{"train.lr": 0.001})  # worse
    _, rows = _run(workspace, spec, [pruned, failed, best, confirm])
    assert {k: t.state for k, t in rows.items()} == {
        "pruned": "pruned", "failed": "failed", "best": "complete", "confirm": "complete"}
    assert rows["confirm"].student_val_acc < rows["best"].student_val_acc
    assert {k for k, t in rows.items() if t.weights is not None} == {"best", "confirm"}
    assert _files(workspace) == sorted(rows[k].weights.path for k in ("best", "confirm"))


def test_a_full_disk_keeps_the_result_with_a_warning(workspace, tiny_spec_dict, one_thread,
                                                      monkeypatch, caplog):
    import kd_automl.export.student as student

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(student, "save_student", full)
    spec = parse_spec(tiny_spec_dict)
    with caplog.at_level(logging.WARNING):
        _, rows = _run(workspace, spec, [_planned(spec, "1")])
    t = rows["1"]
    assert t.state == "complete" and t.student_test_acc > 0 and t.weights is None
    assert "No space left on device" in t.extra["weights_error"]
    assert "weights not kept" in caplog.text
    assert _files(workspace) == []


def test_fused_members_keep_theirs(workspace, tiny_spec_dict, one_thread):
    tiny_spec_dict.update(artifacts={"keep": "all"},
                          teacher={"arch": "cnn", "width": 8, "depth": 2},
                          student={"arch": "cnn", "width": 4, "depth": 2})
    spec = parse_spec(tiny_spec_dict)
    trials = [_planned(spec, str(i), **{"method.alpha": a}) for i, a in enumerate((0.2, 0.9, 0.5))]
    _, rows = _run(workspace, spec, trials, fuse=2)
    assert all("fused" in t.extra for t in rows.values())
    sizes = {t.weights.size for t in rows.values()}
    assert len(sizes) == 1  # each member's own tensors, not the group's stacked buffers
    for t in rows.values():
        assert _test_acc(t.weights.path, apply_params(spec, t.params), t.weights.sha256) == \
            pytest.approx(t.student_test_acc)
