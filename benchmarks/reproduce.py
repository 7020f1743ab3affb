"""Our accuracy beside the published one, for the methods' standard CIFAR-100 settings.

Runs every spec of ``search_spaces/reproduce/`` once, with its fixed published
hyperparameters (no search), and prints the student's test accuracy next to the
paper's number and the gap. Needs CIFAR-100 (``kd-automl data download cifar100``)
and a CUDA GPU: each run is 200-240 epochs of a CIFAR ResNet, and the teacher is
trained first (once, cached in the workspace).

    uv run python benchmarks/reproduce.py [--only kd dkd ...] [--epochs N]
        [--workspace runs] [--device cuda|cpu]

``--epochs N`` shortens every run (student, teacher and assistant; the lr milestones
scale with it): a quick look, not a reproduction. ``--device cpu`` is for a smoke run
only. Exits non-zero, with one line, when the data or the GPU is missing, and when a
run fails.
"""

from __future__ import annotations

import argparse
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


PUBLISHED = {
    "kd": Published("cifar100_resnet32x4_resnet8x4_kd", 73.33, "Hinton KD, mdistiller / DKD paper"),
    "dkd": Published("cifar100_resnet32x4_resnet8x4_dkd", 76.32, "Zhao et al. 2022"),
    "kd_ls": Published("cifar100_resnet32x4_resnet8x4_kd_ls", 76.62, "Sun et al. 2024"),
    "takd_kd": Published("cifar100_resnet110_resnet8_kd", 61.41, "Mirzadeh et al. 2020 (BLKD)"),
    "takd": Published("cifar100_resnet110_resnet8_takd", 61.82, "Mirzadeh et al. 2020"),
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


def load(name: str, epochs: int | None):
    from kd_automl.spec import load_spec, parse_spec

    path = FOLDER / f"{PUBLISHED[name].spec}.yaml"
    spec = load_spec(path)
    if epochs is not None:
        spec = parse_spec(shortened(spec.to_dict(), epochs), source=str(path))
    return spec


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(PUBLISHED), help="runs to do")
    parser.add_argument("--epochs", type=int, help="shorten every run to this many epochs")
    parser.add_argument("--workspace", default=None, help="workspace (teacher cache, data)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be >= 1")
    names = args.only or list(PUBLISHED)

    from kd_automl.engine import run_trial
    from kd_automl.workspace import Workspace

    specs = [load(n, args.epochs) for n in names]
    try:
        preflight(specs, args.device)
    except Refusal as err:
        print(f"reproduce: {err}", file=sys.stderr)
        return 1
    ws = Workspace.resolve(args.workspace)
    note = f" (shortened to {args.epochs} epochs: not comparable)" if args.epochs else ""
    print(f"{'run':<10} {'ours':>7} {'published':>9} {'gap':>7}  epochs  teacher  source{note}")
    failed = 0
    for name, spec in zip(names, specs, strict=True):
        start = time.perf_counter()
        result = run_trial(spec, ws, device=args.device)
        if result.status != "complete":
            failed += 1
            print(f"{name:<10} failed: {result.error}", flush=True)
            continue
        ours, pub = 100 * result.student_test_acc, PUBLISHED[name]
        teacher = f"{100 * result.teacher_test_acc:.2f}" if result.teacher_test_acc else "-"
        print(f"{name:<10} {ours:7.2f} {pub.accuracy:9.2f} {ours - pub.accuracy:+7.2f}  "
              f"{spec.train.epochs:>6}  {teacher:>7}  {pub.source} "
              f"[{time.perf_counter() - start:.0f} s]", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
