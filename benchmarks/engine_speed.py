"""Our engine's training speed on Fashion-MNIST against a plain PyTorch loop, side by side.

LeNet-5 -> LeNet-5-Half with Hinton KD on the teacher's cached logits (no augmentation, the
setting of ``search_spaces/fashion_mnist_kd.yaml``): student images per second of
``kd_automl.engine.train.fit`` beside a hand-written loop (a seeded permutation, index the
same tensors, the same loss, SGD with momentum and weight decay, a cosine schedule) on the
same tensors, threads and device. Runs alternate (plain, ours, plain, ours, ...), and the
best of each is kept, because the machine is shared.

    uv run python benchmarks/engine_speed.py [--epochs 1] [--repeats 3] [--limit N]
        [--threads T] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
import torch.nn.functional as F

from kd_automl.distill import get_method
from kd_automl.engine import train_teacher
from kd_automl.engine.device import pick_device, prepare_model, seed_everything
from kd_automl.engine.train import fit, predict_logits
from kd_automl.engine.trial import get_dataset
from kd_automl.models import build_model
from kd_automl.spec import parse_spec
from kd_automl.workspace import Workspace


def make_spec(args):
    dataset = {"name": "fashion_mnist", "val_fraction": 0.1}
    if args.limit:
        dataset["limit"] = args.limit
    return parse_spec({
        "name": "bench-engine-speed", "dataset": dataset,
        "teacher": {"arch": "lenet5"}, "student": {"arch": "lenet5_half"},
        "method": {"name": "kd", "temperature": 4.0, "alpha": 0.9},
        "train": {"epochs": args.epochs, "batch_size": 128, "lr": 0.05, "momentum": 0.9,
                  "weight_decay": 5e-4, "schedule": "cosine"},
        "teacher_train": {"epochs": 1, "batch_size": 128, "lr": 0.05}}, "benchmark")


def plain_loop(spec, x, y, logits, device) -> float:
    """The loop a researcher writes by hand; returns seconds."""
    seed_everything(spec.seed)
    model = build_model("lenet5_half", tuple(x.shape[1:]), 10).to(device)
    budget, t, alpha = spec.train, spec.method.options["temperature"], spec.method.options["alpha"]
    opt = torch.optim.SGD(model.parameters(), lr=budget.lr, momentum=budget.momentum,
                          weight_decay=budget.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, budget.epochs)
    x, y, logits = x.to(device), y.to(device), logits.to(device)
    gen = torch.Generator().manual_seed(spec.seed)
    start = time.perf_counter()
    model.train()
    for _ in range(budget.epochs):
        order = torch.randperm(len(y), generator=gen).to(device)
        for i in range(0, len(y), budget.batch_size):
            idx = order[i:i + budget.batch_size]
            out = model(x[idx])
            kl = F.kl_div(F.log_softmax(out / t, 1), F.log_softmax(logits[idx] / t, 1),
                          reduction="batchmean", log_target=True)
            loss = (1 - alpha) * F.cross_entropy(out, y[idx]) + alpha * t * t * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def ours(spec, x, y, logits, device) -> float:
    seed_everything(spec.seed)
    student = prepare_model(build_model("lenet5_half", tuple(x.shape[1:]), 10), device)
    distiller = get_method("kd")(student, **spec.method.options)
    start = time.perf_counter()
    fit(distiller, x, y, spec.train, device, teacher_logits=logits, seed=spec.seed)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N training images")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    spec = make_spec(args)
    data = get_dataset(spec)
    with tempfile.TemporaryDirectory() as tmp:
        teacher = train_teacher(spec, data, Workspace.resolve(tmp), device).model
        logits = predict_logits(teacher, data.x_train, device)
    runs = {"plain": [], "ours": []}
    for _ in range(args.repeats):
        runs["plain"].append(plain_loop(spec, data.x_train, data.y_train, logits, device))
        runs["ours"].append(ours(spec, data.x_train, data.y_train, logits, device))
    images = len(data.y_train) * args.epochs
    plain_ips, our_ips = images / min(runs["plain"]), images / min(runs["ours"])
    print(f"LeNet-5 -> LeNet-5-Half, Hinton KD on cached teacher logits, Fashion-MNIST "
          f"({len(data.y_train)} train images), {args.epochs} epoch(s), batch 128, device "
          f"{device}, {torch.get_num_threads()} thread(s), best of {args.repeats}; load "
          f"average {os.getloadavg()[0]:.1f}")
    print(f"  plain PyTorch loop  {plain_ips:9.0f} student img/s  "
          f"(runs: {', '.join(f'{s:.2f}' for s in runs['plain'])} s)")
    print(f"  kd_automl fit       {our_ips:9.0f} student img/s  "
          f"(runs: {', '.join(f'{s:.2f}' for s in runs['ours'])} s)")
    print(f"ours / plain: {our_ips / plain_ips:.3f}")


if __name__ == "__main__":
    main()
