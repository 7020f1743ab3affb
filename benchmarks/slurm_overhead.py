"""What Slurm costs a search: `--slurm --workers K` against K local workers, side by side.

The same tiny digits study (MLP 64 -> MLP 8, KD, 2 epochs per trial) on PostgreSQL, run as a
whole ``kd-automl optuna`` command each way in a fresh process, teacher cached and the
student alone stored by a warm-up run first (so neither row trains them):

- **to the first trial**: from the command's start to the first new trial's start in the
  study (imports, the checks, for Slurm ``sbatch --test-only``, the submission, the queue, the
  task's start and its imports);
- **overhead per trial**: the span from the first trial's start to the last one's end, times
  K workers, over the trials, less a trial's mean run time: what each trial waits outside
  its own training (asking, the queue, the store, a task that starts late).

Needs a running Slurm (``bash .ci/slurm.sh``) and ``KD_AUTOML_TEST_PG`` (``bash
.ci/postgres.sh`` prints one).

    uv run python benchmarks/slurm_overhead.py [--trials 12] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import optuna
import yaml

SPEC = {
    "dataset": {"name": "digits"},
    "teacher": {"arch": "mlp", "width": 64, "depth": 1},
    "student": {"arch": "mlp", "width": 8, "depth": 1},
    "method": {"name": "kd", "temperature": 4.0, "alpha": 0.9},
    "train": {"epochs": 2, "batch_size": 128, "lr": 0.05},
    "teacher_train": {"epochs": 4, "batch_size": 128, "lr": 0.1},
    "pruner": {"name": "none"},
    "seed": 0,
    "search": {"method.temperature": {"_type": "loguniform", "_value": [1, 20]},
               "method.alpha": {"_type": "uniform", "_value": [0.0, 1.0]}},
}


def command(spec: Path, ws: Path, db: str, study: str, trials: int, workers: int,
            slurm: bool) -> float:
    args = [sys.executable, "-m", "kd_automl", "optuna", str(spec), "--trials", str(trials),
            "--workers", str(workers), "--db", db, "--study", study, "--workspace", str(ws),
            "--threads", "1"] + (["--slurm"] if slurm else [])
    start = time.time()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    return start


def measure(db: str, study: str, start: float, workers: int) -> tuple[float, float, float]:
    s = optuna.load_study(study_name=study, storage=db)
    new = [t for t in s.trials if t.datetime_start
           and t.datetime_start.timestamp() >= start and t.datetime_complete]
    first = min(t.datetime_start for t in new)
    last = max(t.datetime_complete for t in new)
    run = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in new) / len(new)
    span = (last - first).total_seconds()
    return first.timestamp() - start, span * workers / len(new) - run, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    db = os.environ.get("KD_AUTOML_TEST_PG")
    if not db:
        sys.exit("set KD_AUTOML_TEST_PG (bash .ci/postgres.sh prints one)")
    root = Path(tempfile.mkdtemp(prefix="kd-slurm-bench-"))
    name = f"bench-{uuid.uuid4().hex[:6]}"
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": name, **SPEC}))
    ws = root / "ws"
    rows = []
    for mode, slurm in (("local workers", False), ("Slurm array", True)):
        study = f"{name}-{'slurm' if slurm else 'local'}"
        command(spec, ws, db, study, 1, 1, False)  # teacher cached, baseline stored
        start = command(spec, ws, db, study, args.trials, args.workers, slurm)
        rows.append((mode, *measure(db, study, start, args.workers)))
    print(f"{datetime.now():%Y-%m-%d}, {args.trials} trials, {args.workers} workers, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':<14} {'to first trial':>15} {'overhead/trial':>15} {'trial run':>10}")
    for mode, first, over, run in rows:
        print(f"{mode:<14} {first:>14.1f}s {over:>14.2f}s {run:>9.2f}s")


if __name__ == "__main__":
    main()
