"""What one Optuna-path trial costs outside its epochs, stage by stage, on the digits pair.

Runs the stages of a trial as the engine and the runner do (the sampled values written into
the spec and validated, the dataset and the cached teacher fetched, the student built,
its profile, the epochs, the accuracies, the store's two writes) for ``--trials`` trials of
a 2-epoch digits spec, and prints the median milliseconds of each stage beside the epochs'
time, so the share outside training is measured, not guessed. The profile row shows the
first trial's cost (measured) and the later ones' (cached per architecture).

    uv run python benchmarks/trial_overhead.py [--trials 12] [--epochs 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import torch

from kd_automl.engine import teacher_cache
from kd_automl.engine import trial as trial_module
from kd_automl.engine.result import TrialResult
from kd_automl.engine.teacher import load_teacher, teacher_args
from kd_automl.engine.train import fit
from kd_automl.engine.trial import (
    build_distiller,
    get_dataset,
    record_accuracy,
    record_profile,
)
from kd_automl.spec import apply_params, parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

SPEC = {
    "name": "bench-overhead", "dataset": {"name": "digits"},
    "teacher": {"arch": "cnn", "width": 16, "depth": 2},
    "student": {"arch": "cnn", "width": 8, "depth": 2},
    "method": {"name": "kd"}, "pruner": {"name": "none"},
    "train": {"epochs": 2, "batch_size": 64, "lr": 0.05},
    "teacher_train": {"epochs": 3, "batch_size": 64, "lr": 0.05},
    "search": {"method.temperature": {"_type": "loguniform", "_value": [1, 20]},
               "method.alpha": {"_type": "uniform", "_value": [0, 1]}},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    SPEC["train"]["epochs"] = args.epochs
    spec = parse_spec(SPEC)
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.resolve(Path(tmp))
        store = Store(ws.db_url)
        exp = store.experiment(spec, "script")
        load_teacher(spec, get_dataset(spec), ws, cpu, TrialResult())  # trained once, cached
        stages: dict[str, list[float]] = {}

        @contextlib.contextmanager
        def _timed(name):
            start = time.perf_counter()
            yield
            stages.setdefault(name, []).append(1e3 * (time.perf_counter() - start))

        for i in range(2 * args.trials):  # alternating: without, then with the caches
            cold = i % 2 == 0
            if cold:  # what every trial paid before: measure the profile, verify the teacher
                trial_module._PROFILES.clear()
                teacher_cache._MEMORY.clear()
            tag = " [no caches]" if cold else ""

            def timed(name, tag=tag):  # noqa: B023
                return _timed(name + tag)

            params = {"method.temperature": 1.0 + i, "method.alpha": (i % 10) / 10}
            result = TrialResult()
            with timed("spec: values written in, validated"):
                trial_spec = apply_params(spec, params)
            with timed("store: open the row"):
                tid = store.start_trial(exp, i, params)
            with timed("dataset (cached in the process)"):
                data = get_dataset(trial_spec)
            with timed("teacher (from the cache)"):
                teacher = load_teacher(trial_spec, data, ws, cpu, result)
            with timed("student built, seeded"):
                distiller = build_distiller(trial_spec, data, cpu)
            with timed("profile: params, FLOPs, latency"):
                record_profile(result, distiller.student, data)
            with timed(f"the {args.epochs} epochs (training + validation)"):
                fit(distiller, data.x_train, data.y_train, trial_spec.train, cpu,
                    **teacher_args(teacher, trial_spec, data, cpu),
                    val=(data.x_val, data.y_val), seed=trial_spec.seed)
            with timed("accuracies: val + test"):
                record_accuracy(result, distiller, data, cpu)
            result.curve = [{"epoch": 1, "val_acc": 0.5}]
            with timed("store: the result and its curve"):
                store.finish_trial(tid, result)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.trials} trials each "
          "way, alternating, digits cnn(8) <- cnn(16), KD")
    print(f"{'stage (median ms)':40s} {'no caches':>10s} {'shipped':>10s}")
    names = [k for k in stages if not k.endswith("[no caches]")]
    totals = {"[no caches]": 0.0, "": 0.0}
    for name in names:
        cold = statistics.median(stages[name + " [no caches]"])
        warm = statistics.median(stages[name])
        print(f"{name:40s} {cold:10.2f} {warm:10.2f}")
        if not name.startswith("the "):
            totals["[no caches]"] += cold
            totals[""] += warm
    epochs = statistics.median(stages[next(k for k in names if k.startswith("the "))])
    print(f"{'outside the epochs, per trial':40s} {totals['[no caches]']:10.2f} "
          f"{totals['']:10.2f}  (shipped/no caches {totals[''] / totals['[no caches]']:.2f}; "
          f"{100 * totals[''] / (totals[''] + epochs):.1f}% of a trial)")


if __name__ == "__main__":
    main()
