"""Our accuracy beside the published one, for the methods' standard settings.

Runs every spec of ``search_spaces/reproduce/`` with its fixed published hyperparameters
(no search), and prints the student's test accuracy next to the paper's number and the gap.

- CIFAR-100 rows need CIFAR-100 (``kd-automl data download cifar100``) and a CUDA GPU: each
  run is 200-240 epochs of a CIFAR ResNet.
- Fashion-MNIST rows (ZSKD's LeNet-5 pair) run on the CPU in minutes, with Debian's
  ``dataset-fashion-mnist`` or the files in the data folder.

The teacher is trained first (once, cached in the workspace).

    uv run python benchmarks/reproduce.py [--only fmnist_kd fmnist_alone ...] [--seeds 1 2 3]
        [--epochs N] [--limit N] [--workspace runs] [--device cuda|cpu]

``--seeds`` runs each spec once per seed (the seed moves the split, the teacher, the batch
order and the init) and prints the mean with its 95% interval. ``--epochs N`` shortens every
run (student, teacher and assistant; the lr milestones scale with it) and ``--limit N`` keeps
the first N training images: a quick look, not a reproduction. The device defaults to CUDA
when any chosen run needs a GPU, else to CUDA where there is one and the CPU otherwise;
``--device cpu`` for a GPU run is a smoke run only. Exits non-zero, with one line, when the
data or the GPU is missing, and when a run fails.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "search_spaces" / "reproduce"


@dataclass(frozen=True)
class Published:
    spec: str  # file name in search_spaces/reproduce/, without .yaml
    accuracy: float  # top-1 test accuracy, %
    source: str
    teacher: float | None = None  # the teacher's published test accuracy, %, where given
    gpu: bool = True  # needs a CUDA GPU to finish in reasonable time


ZSKD = "Nayak et al. 2019 (ZSKD), Table 3, as quoted by later papers"
PUBLISHED = {
    "kd": Published("cifar100_resnet32x4_resnet8x4_kd", 73.33, "Hinton KD, mdistiller / DKD paper"),
    "dkd": Published("cifar100_resnet32x4_resnet8x4_dkd", 76.32, "Zhao et al. 2022"),
    "kd_ls": Published("cifar100_resnet32x4_resnet8x4_kd_ls", 76.62, "Sun et al. 2024"),
    "takd_kd": Published("cifar100_resnet110_resnet8_kd", 61.41, "Mirzadeh et al. 2020 (BLKD)"),
    "takd": Published("cifar100_resnet110_resnet8_takd", 61.82, "Mirzadeh et al. 2020"),
    "fmnist_kd": Published("fashion_mnist_lenet5_lenet5_half_kd", 89.66, f"KD, T=20; {ZSKD}",
                           teacher=90.84, gpu=False),
    "fmnist_alone": Published("fashion_mnist_lenet5_half_alone", 89.43,
                              f"student alone; {ZSKD}", teacher=90.84, gpu=False),
}


class Refusal(Exception):
    """Why the runs cannot start here (printed as one line)."""


def shortened(data: dict, epochs: int) -> dict:
    """The spec's data with every budget cut to ``epochs`` and its lr milestones scaled."""
    for key in ("train", "teacher_train"):
        budget = data.get(key)
        if not budget:
            continue
        full = budget["epochs"]
        budget["epochs"] = epochs
        if budget.get("milestones"):
            budget["milestones"] = sorted({max(1, round(m * epochs / full))
                                           for m in budget["milestones"]})
    return data


def load(name: str, epochs: int | None, limit: int | None = None, seed: int | None = None):
    from kd_automl.spec import load_spec, parse_spec

    path = FOLDER / f"{PUBLISHED[name].spec}.yaml"
    data = load_spec(path).to_dict()
    if epochs is not None:
        data = shortened(data, epochs)
    if limit is not None:
        data["dataset"]["limit"] = limit
    if seed is not None:
        data["seed"] = seed
    return parse_spec(data, source=str(path))


def interval(values: list[float]) -> str:
    """``mean ± half-width of the 95% t interval`` (the mean alone for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.2f}"
    from scipy.stats import t

    half = t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{mean:.2f} ± {half:.2f}"


def preflight(specs: list, device: str) -> None:
    """Raise :class:`Refusal` when the dataset files or the GPU are missing."""
    import torch

    from kd_automl.data.registry import ensure_available
    from kd_automl.errors import KDAutoMLError

    for spec in specs:
        try:
            ensure_available(spec.dataset.name, spec.dataset.options)
        except KDAutoMLError as err:
            raise Refusal(str(err)) from None
    if device != "cpu" and not torch.cuda.is_available():
        raise Refusal("no CUDA GPU here: these runs take days on a CPU; run on a GPU machine "
                      "(or pass --device cpu for a smoke run only)")


def pick_device(names: list[str], asked: str | None) -> str:
    import torch

    if asked:
        return asked
    if any(PUBLISHED[n].gpu for n in names) or torch.cuda.is_available():
        return "cuda"
    return "cpu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(PUBLISHED), help="runs to do")
    parser.add_argument("--seeds", nargs="+", type=int, help="one run per seed (default: the "
                        "spec's seed)")
    parser.add_argument("--epochs", type=int, help="shorten every run to this many epochs")
    parser.add_argument("--limit", type=int, help="keep the first N training images")
    parser.add_argument("--workspace", default=None, help="workspace (teacher cache, data)")
    parser.add_argument("--device", default=None, choices=("cuda", "cpu"))
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be >= 1")
    names = args.only or list(PUBLISHED)
    seeds = args.seeds or [None]

    from kd_automl.engine import run_trial
    from kd_automl.errors import KDAutoMLError
    from kd_automl.workspace import Workspace

    try:
        runs = {n: [load(n, args.epochs, args.limit, s) for s in seeds] for n in names}
        device = pick_device(names, args.device)
        preflight([specs[0] for specs in runs.values()], device)
    except (Refusal, KDAutoMLError) as err:
        print(f"reproduce: {err}", file=sys.stderr)
        return 1
    ws = Workspace.resolve(args.workspace)
    quick = [f"{args.epochs} epoch(s)" if args.epochs else "", f"{args.limit} images"
             if args.limit else ""]
    note = f" (shortened to {', '.join(q for q in quick if q)}: not comparable)" if any(quick) \
        else ""
    print(f"{'run':<12} {'ours':>13} {'published':>9} {'gap':>7}  epochs  seeds  "
          f"{'teacher (published)':>19}  source{note}")
    failed = 0
    for name, specs in runs.items():
        start, ours, teachers = time.perf_counter(), [], []
        for spec in specs:
            result = run_trial(spec, ws, device=device)
            if result.status != "complete":
                failed += 1
                print(f"{name:<12} failed (seed {spec.seed}): {result.error}", flush=True)
                break
            ours.append(100 * result.student_test_acc)
            if result.teacher_test_acc:
                teachers.append(100 * result.teacher_test_acc)
        else:
            pub = PUBLISHED[name]
            teacher = interval(teachers) if teachers else "-"
            if pub.teacher is not None:
                teacher += f" ({pub.teacher:.2f})"
            gap = statistics.fmean(ours) - pub.accuracy
            print(f"{name:<12} {interval(ours):>13} {pub.accuracy:9.2f} {gap:+7.2f}  "
                  f"{specs[0].train.epochs:>6}  {len(specs):>5}  {teacher:>19}  {pub.source} "
                  f"[{time.perf_counter() - start:.0f} s]", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
