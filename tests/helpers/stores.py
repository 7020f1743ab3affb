"""Constructed stores for the analysis, leaderboard, dashboard and CLI tests.

``fill`` writes trials through the Store API exactly as the Optuna and NNI backends do;
``bulk_fill`` inserts thousands of rows in one SQLAlchemy session; ``real_search`` runs a
tiny real Optuna study and records an NNI experiment beside it.
"""

from __future__ import annotations

import copy
import math
import random

from kd_automl.results import TrialResult
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.store.models import EpochMetric, Trial

SPEC = {
    "name": "tiny-kd",
    "dataset": {"name": "digits"},
    "teacher": {"arch": "mlp", "width": 32, "depth": 1},
    "student": {"arch": "mlp", "width": 8, "depth": 1},
    "method": {"name": "kd", "temperature": 4.0, "alpha": 0.9},
    "train": {"epochs": 2, "batch_size": 128, "lr": 0.05},
    "teacher_train": {"epochs": 2, "batch_size": 128, "lr": 0.1},
    "pruner": {"name": "none"},
    "seed": 0,
    "search": {
        "method.temperature": {"_type": "loguniform", "_value": [1, 20]},
        "method.alpha": {"_type": "uniform", "_value": [0.0, 1.0]},
    },
}


def spec(**changes) -> dict:
    d = copy.deepcopy(SPEC)
    for k, v in changes.items():
        d[k] = v
    return d


def _acc(temp: float, alpha: float) -> float:
    """A smooth made-up accuracy surface (best near T=4, alpha=0.7)."""
    return 0.9 + 0.05 * math.exp(-(math.log(temp / 4)) ** 2) - 0.03 * (alpha - 0.7) ** 2


def result(acc: float, status: str = "complete", epochs: int = 3, params: int = 626,
           error: str | None = None, extra: dict | None = None) -> TrialResult:
    curve = [{"epoch": e + 1, "val_acc": acc * (e + 1) / epochs, "train_loss": 2.0 / (e + 1),
              "train_kd": 1.5 / (e + 1), "train_ce": 0.5 / (e + 1)} for e in range(epochs)]
    done = status == "complete"
    return TrialResult(status=status, student_val_acc=acc if status != "failed" else None,
                       student_test_acc=acc - 0.01 if done else None,
                       teacher_test_acc=0.98 if done else None,
                       gap=0.98 - (acc - 0.01) if done else None, student_params=params,
                       student_flops=2 * params, curve=curve, error=error, extra=extra or {})


def fill(store: Store, n: int, name: str = "tiny-kd", backend: str = "optuna",
         method: str = "kd", seed: int = 0, baseline: bool = True, failed: int = 0,
         pruned: int = 0, student: dict | None = None) -> int:
    """An experiment with ``n`` completed, ``pruned`` pruned and ``failed`` failed trials."""
    rng = random.Random(seed)
    d = spec(name=name, method={"name": method, "temperature": 4.0, "alpha": 0.9})
    if student:
        d["student"] = student
    exp = store.experiment(parse_spec(d), backend=backend, name=name)
    if baseline:
        tid = store.start_trial(exp, "baseline", {}, role="baseline", method="ce")
        store.finish_trial(tid, result(0.9))
    width = (student or {}).get("width", 8)
    for i in range(n + pruned + failed):
        temp, alpha = math.exp(rng.uniform(0, math.log(20))), rng.uniform(0, 1)
        params = {"method.temperature": temp, "method.alpha": alpha}
        tid = store.start_trial(exp, i, params)
        status = "complete" if i < n else "pruned" if i < n + pruned else "failed"
        acc = _acc(temp, alpha) + rng.gauss(0, 0.003)
        store.finish_trial(tid, result(acc, status, params=70 * width + 66,
                                       error="diverged: NaN loss" if status == "failed"
                                       else None))
    return exp


def bulk_fill(store: Store, n: int, name: str = "huge-kd", seed: int = 0) -> int:
    """``n`` trials in one session (not through the engine): 90% complete, 7% pruned,
    3% failed, a baseline, and a 3-epoch curve for the first 50."""
    rng = random.Random(seed)
    exp = store.experiment(parse_spec(spec(name=name)), backend="optuna", name=name)
    with store.session() as s, s.begin():
        rows = [Trial(experiment_id=exp, backend_trial_id="baseline", role="baseline",
                      state="complete", params={}, method="ce", student_val_acc=0.9,
                      student_test_acc=0.89, student_params=626)]
        for i in range(n):
            temp, alpha = math.exp(rng.uniform(0, math.log(20))), rng.uniform(0, 1)
            acc = _acc(temp, alpha) + rng.gauss(0, 0.003)
            u = rng.random()
            state = "complete" if u < 0.9 else "pruned" if u < 0.97 else "failed"
            width = rng.choice([4, 8, 16, 32])
            rows.append(Trial(
                experiment_id=exp, backend_trial_id=str(i), role="search", state=state,
                params={"method.temperature": temp, "method.alpha": alpha,
                        "student.width": width},
                student_val_acc=acc if state != "failed" else None,
                student_test_acc=acc - 0.01 if state == "complete" else None,
                teacher_test_acc=0.98, gap=0.98 - acc + 0.01 if state == "complete" else None,
                student_params=70 * width + 66, student_flops=140 * width + 132,
                error="diverged" if state == "failed" else None, extra={}))
        s.add_all(rows)
        s.flush()
        s.add_all(EpochMetric(trial_id=t.id, epoch=e, name=k, value=v / e)
                  for t in rows[1:51] for e in (1, 2, 3)
                  for k, v in (("val_acc", 0.9), ("train_kd", 1.0)))
    return exp


def real_search(tmp_path) -> str:
    """A database holding a real 3-trial Optuna study and an NNI experiment; its URL."""
    from kd_automl.optuna import run_study

    db = f"sqlite:///{tmp_path / 'kd.db'}"
    run_study(parse_spec(spec(name="tiny-optuna")), 3, workspace=tmp_path / "ws", db=db)
    store = Store(db)
    nni_spec = parse_spec(spec(name="tiny-nni", method={"name": "kd", "temperature": 2.0,
                                                         "alpha": 0.5}))
    exp = store.experiment(nni_spec, backend="nni", name="tiny-nni", study_name="AbC123xy")
    base = store.start_trial(exp, "baseline", {}, role="baseline", method="ce")
    store.finish_trial(base, result(0.88))
    for i, (temp, alpha, status) in enumerate([(2.0, 0.3, "complete"), (8.0, 0.8, "complete"),
                                               (1.5, 0.1, "pruned"), (30.0, 0.9, "failed")]):
        tid = store.start_trial(exp, f"nni-{i}", {"method.temperature": temp,
                                                  "method.alpha": alpha})
        store.finish_trial(tid, result(_acc(temp, alpha), status,
                                       error="RuntimeError: diverged (NaN loss) at epoch 2"
                                       if status == "failed" else None))
    store.dispose()
    return db
