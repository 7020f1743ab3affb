"""A KD trial vs training the same student alone, same epochs: the wall-time ratio.

Runs the project's engine (``kd_automl.engine``) on synthetic CIFAR-shaped data
(3x32x32, 100 classes), ResNet32x4 -> ResNet8x4 by default, without
augmentation, so the teacher's outputs are computed once and cached (the teacher
itself is trained once first and excluded). Two ratios, measured side by side:

- **train loop**: ``engine.train.fit`` with Hinton KD on cached teacher logits vs
  cross-entropy alone: the per-epoch cost of distilling;
- **whole trial**: ``engine.run_trial`` for ``method: kd`` vs ``method: ce``; the KD
  trial also runs the teacher once over the training set to fill the cache, a cost
  that does not grow with epochs, so the ratio is also projected to the
  literature's 240 epochs.

    uv run python benchmarks/kd_overhead.py [--samples 512] [--epochs 3] [--repeats 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from kd_automl.distill import get_method
from kd_automl.engine import run_trial, train_teacher
from kd_automl.engine.device import pick_device, prepare_model, seed_everything
from kd_automl.engine.train import fit, predict_logits
from kd_automl.engine.trial import get_dataset
from kd_automl.models import build_model
from kd_automl.spec import apply_params, parse_spec
from kd_automl.workspace import Workspace


def make_spec(args):
    return parse_spec({
        "name": "bench-kd-overhead",
        "dataset": {"name": "synthetic", "num_samples": args.samples, "num_classes": 100,
                    "val_fraction": 0.1, "test_fraction": 0.1},
        "teacher": {"arch": args.teacher}, "student": {"arch": args.student},
        "method": {"name": "kd", "temperature": 4.0, "alpha": 0.9},
        "train": {"epochs": args.epochs, "batch_size": 64, "lr": 0.05, "schedule": "step",
                  "milestones": [], "augment": "none"},
        "teacher_train": {"epochs": 1, "batch_size": 64, "lr": 0.05},
        "pruner": {"name": "none"}, "seed": 0,
    }, "benchmark")


def time_fit(method: str, spec, data, device, logits) -> float:
    seed_everything(spec.seed)
    student = build_model(spec.student.arch, data.input_shape, data.num_classes)
    options = spec.method.options if method == "kd" else {}
    distiller = get_method(method)(prepare_model(student, device), **options)
    extra = {"teacher_logits": logits} if method == "kd" else {}
    start = time.perf_counter()
    fit(distiller, data.x_train, data.y_train, spec.train, device, **extra,
        val=(data.x_val, data.y_val), seed=spec.seed)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved runs; best kept")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    spec = make_spec(args)
    ce_spec = apply_params(spec, {"method": {"_name": "ce"}})
    device = pick_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.resolve(tmp)
        data = get_dataset(spec)
        start = time.perf_counter()
        teacher = train_teacher(spec, data, ws, device).model  # trained once, then cached
        teach_s = time.perf_counter() - start
        start = time.perf_counter()
        logits = predict_logits(teacher, data.x_train, device)
        pass_s = time.perf_counter() - start
        fits = {"ce": [], "kd": []}
        trials = {"ce": [], "kd": []}
        for _ in range(args.repeats):
            for method in ("ce", "kd"):
                fits[method].append(time_fit(method, spec, data, device, logits))
            for method, s in (("ce", ce_spec), ("kd", spec)):
                result = run_trial(s, ws, device=device)
                assert result.status == "complete", result.error
                trials[method].append(result.wall_time_s)
    fit_ce, fit_kd = min(fits["ce"]), min(fits["kd"])
    trial_ce, trial_kd = min(trials["ce"]), min(trials["kd"])
    per_epoch_ce, per_epoch_kd = fit_ce / args.epochs, fit_kd / args.epochs
    projected = (240 * per_epoch_kd + pass_s) / (240 * per_epoch_ce)
    print(f"{args.teacher} -> {args.student}, synthetic CIFAR-shaped data "
          f"({len(data.y_train)} train images), {args.epochs} epochs, batch 64, no augmentation, "
          f"device {device}, {torch.get_num_threads()} threads; best of {args.repeats}")
    print(f"  teacher trained once (excluded): {teach_s:.1f} s; one teacher pass over the "
          f"training set (fills the cache): {pass_s:.2f} s")
    print(f"  train loop  ce {fit_ce:7.2f} s   kd (cached teacher logits) {fit_kd:7.2f} s")
    print(f"  whole trial ce {trial_ce:7.2f} s   kd (incl. the teacher pass)  {trial_kd:7.2f} s")
    print(f"KD / alone, train loop with the teacher cache: {fit_kd / fit_ce:.3f}")
    print(f"KD / alone, whole trial ({args.epochs} epochs): {trial_kd / trial_ce:.3f}; "
          f"projected to 240 epochs: {projected:.3f}")


if __name__ == "__main__":
    main()
