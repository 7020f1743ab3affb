"""Fused trials vs one trial at a time: student images/s and trials/hour, side by side.

For each group size k the same k trials (KD; learning rate, temperature and
alpha spread over a grid; ``train.seed`` varied) run twice in this process: one
after another through ``engine.run_trial`` (what one trial per process does,
minus the process start) and together as one :class:`FusedGroup`. The teacher is
trained and cached first and excluded from both. Printed per k: the plain and
fused rates, their ratio, the mean validation accuracy of the k trials each
way, and the largest per-trial difference (same seeds, same batches: float
noise, which a few epochs at a high learning rate can grow to a few samples).
With ``--repeats R`` the two ways alternate R times and the fastest run
of each is kept (for noisy machines).

Presets:

- ``digits``: the demo pair (CNN 32x3 teacher, CNN 8x3 student) on the digits
  dataset, batch 64;
- ``cifar-small``: CIFAR-shaped synthetic data (3x32x32, 100 classes),
  ResNet8 (width 0.5) -> ResNet8 (width 0.25), batch 64, crop + flip on the device;
- ``cifar100-resnet``: the issue's setting, ResNet32x4 -> ResNet8x4 on
  CIFAR-100-shaped synthetic data, batch 64, crop + flip (for a GPU).

    uv run python benchmarks/fused_trials.py --preset digits --ks 1,4,8,16,32
    uv run python benchmarks/fused_trials.py --preset cifar100-resnet --device cuda
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time

import torch

from kd_automl.engine import NullReporter, run_trial
from kd_automl.engine.fused import FusedGroup
from kd_automl.engine.teacher import train_teacher
from kd_automl.engine.trial import get_dataset
from kd_automl.spec import apply_params, parse_spec
from kd_automl.workspace import Workspace

PRESETS = {
    "digits": {
        "dataset": {"name": "digits"},
        "teacher": {"arch": "cnn", "width": 32, "depth": 3},
        "student": {"arch": "cnn", "width": 8, "depth": 3},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.05},
        "teacher_train": {"epochs": 10, "batch_size": 64, "lr": 0.05},
    },
    "cifar-small": {
        "dataset": {"name": "synthetic", "num_samples": 1280, "num_classes": 100,
                    "val_fraction": 0.1, "test_fraction": 0.1},
        "teacher": {"arch": "resnet8", "width": 0.5},
        "student": {"arch": "resnet8", "width": 0.25},
        "train": {"epochs": 1, "batch_size": 64, "lr": 0.05, "augment": "crop_flip"},
        "teacher_train": {"epochs": 1, "batch_size": 64, "lr": 0.05},
    },
    "cifar100-resnet": {
        "dataset": {"name": "synthetic", "num_samples": 12800, "num_classes": 100,
                    "val_fraction": 0.1, "test_fraction": 0.1},
        "teacher": {"arch": "resnet32x4"},
        "student": {"arch": "resnet8x4"},
        "train": {"epochs": 1, "batch_size": 64, "lr": 0.05, "augment": "crop_flip"},
        "teacher_train": {"epochs": 1, "batch_size": 64, "lr": 0.05},
    },
}


def member_specs(base, k: int):
    grid = itertools.cycle(itertools.product((0.02, 0.05, 0.1), (2.0, 4.0), (0.5, 0.9)))
    return [apply_params(base, {"train.lr": lr, "method.temperature": t, "method.alpha": a,
                                "train.seed": i})
            for i, (lr, t, a) in zip(range(k), grid, strict=False)]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def plain(specs, ws, device) -> tuple[float, list[float]]:
    _sync(device)
    start = time.perf_counter()
    accs = [run_trial(s, ws, device=device).student_val_acc for s in specs]
    _sync(device)
    return time.perf_counter() - start, accs


def fused(base, specs, ws, device) -> tuple[float, list[float]]:
    _sync(device)
    start = time.perf_counter()
    group = FusedGroup(base, ws, len(specs), device=device)
    queue = [(i, s, NullReporter()) for i, s in enumerate(specs)]
    results = {}
    group.run(lambda: queue.pop(0) if queue else None, results.__setitem__)
    _sync(device)
    return time.perf_counter() - start, [results[i].student_val_acc for i in range(len(specs))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="digits")
    ap.add_argument("--ks", default="1,4,8,16,32", help="group sizes")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per trial")
    ap.add_argument("--device", default=None, help="cpu / cuda (default: cuda when present)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--workspace", default=None, help="where the teacher is cached")
    ap.add_argument("--repeats", type=int, default=1,
                    help="interleaved runs of each way; the fastest is kept (noisy machines)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    preset = PRESETS[args.preset]
    if args.epochs:
        preset = {**preset, "train": {**preset["train"], "epochs": args.epochs}}
    base = parse_spec({"name": f"bench-fused-{args.preset}", **preset,
                       "method": {"name": "kd"}, "pruner": {"name": "none"}, "seed": 0},
                      "benchmark")
    ws = Workspace.resolve(args.workspace or tempfile.mkdtemp(prefix="kd-fused-"))
    data = get_dataset(base)
    train_teacher(base, data, ws, torch.device(device))
    run_trial(member_specs(base, 1)[0], ws, device=device)  # warm-up: logits cache, kernels
    n_img = len(data.y_train) * base.train.epochs
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"preset {args.preset}: {base.teacher.arch} -> {base.student.arch}, "
          f"{len(data.y_train)} training images, {base.train.epochs} epoch(s), batch "
          f"{base.train.batch_size}, augment {base.train.augment}; device {name}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"{'k':>3} | {'plain img/s':>11} | {'fused img/s':>11} | {'plain trials/h':>14} | "
          f"{'fused trials/h':>14} | {'ratio':>6} | {'mean val acc plain/fused':>24} | "
          f"{'max |d val acc|':>15}")
    for k in (int(v) for v in args.ks.split(",")):
        specs = member_specs(base, k)
        runs_plain, runs_fused = [], []
        for _ in range(args.repeats):  # interleaved; the fastest of each is kept
            runs_plain.append(plain(specs, ws, device))
            runs_fused.append(fused(base, specs, ws, device))
        t_plain, acc_plain = min(runs_plain)
        t_fused, acc_fused = min(runs_fused)
        diff = max(abs(a - b) for a, b in zip(acc_plain, acc_fused, strict=True))
        print(f"{k:>3} | {k * n_img / t_plain:>11,.0f} | {k * n_img / t_fused:>11,.0f} | "
              f"{3600 * k / t_plain:>14,.0f} | {3600 * k / t_fused:>14,.0f} | "
              f"{t_plain / t_fused:>6.2f} | "
              f"{100 * sum(acc_plain) / k:>11.2f}% / {100 * sum(acc_fused) / k:>6.2f}% | "
              f"{100 * diff:>14.2f}%", flush=True)


if __name__ == "__main__":
    main()
