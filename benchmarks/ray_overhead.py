"""What Ray costs a search: `--ray ADDRESS --workers K` against K local workers, side by side.

The same tiny digits study (MLP 64 -> MLP 8, KD, 2 epochs per trial) on PostgreSQL, run as a
whole ``kd-automl optuna`` command each way in a fresh process, teacher cached and the
student alone stored by a warm-up run first (so neither row trains them):

- **to the first trial**: from the command's start to the first new trial's start in the
  study (imports, connecting to the cluster, the actors' start and their imports for Ray);
- **overhead per trial**: the span from the first trial's start to the last one's end, times
  K workers, over the trials, less a trial's mean run time: what each trial waits outside
  its own training (asking, the queue, the store, an actor that starts late).

Printed with the ratios Ray / local. Needs the cluster of ``bash .ci/ray.sh`` (the commands run
in its network namespace) and ``KD_AUTOML_TEST_PG`` (``bash .ci/postgres.sh`` prints one;
``.ci/ray.sh`` bridges it into the namespace).

    uv run python benchmarks/ray_overhead.py [--trials 12] [--workers 2]
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
            ray: str | None, netns: str | None) -> float:
    args = [sys.executable, "-m", "kd_automl", "optuna", str(spec), "--trials", str(trials),
            "--workers", str(workers), "--db", db, "--study", study, "--workspace", str(ws),
            "--threads", "1"] + (["--ray", ray] if ray else [])
    start = time.time()
    subprocess.run((["ip", "netns", "exec", netns] if netns else []) + args, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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
    ap.add_argument("--address", default="127.0.0.1:6379")
    ap.add_argument("--netns", default=os.environ.get("KD_AUTOML_RAY_NS", "kd-automl-ray"),
                    help="run the commands in this network namespace ('' for none)")
    args = ap.parse_args()
    db = os.environ.get("KD_AUTOML_TEST_PG")
    if not db:
        sys.exit("set KD_AUTOML_TEST_PG (bash .ci/postgres.sh prints one)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="kd-ray-bench-"))
    name = f"bench-{uuid.uuid4().hex[:6]}"
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": name, **SPEC}))
    ws = root / "ws"
    netns = args.netns or None
    rows = []
    for mode, ray in (("local workers", None), ("Ray actors", args.address)):
        study = f"{name}-{'ray' if ray else 'local'}"
        command(spec, ws, db, study, 1, 1, None, netns)  # teacher cached, baseline stored
        start = command(spec, ws, db, study, args.trials, args.workers, ray, netns)
        rows.append((mode, *measure(db, study, start, args.workers)))
    print(f"{datetime.now():%Y-%m-%d}, {args.trials} trials, {args.workers} workers, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':<14} {'to first trial':>15} {'overhead/trial':>15} {'trial run':>10}")
    for mode, first, over, run in rows:
        print(f"{mode:<14} {first:>14.1f}s {over:>14.2f}s {run:>9.2f}s")
    (_, f0, o0, r0), (_, f1, o1, r1) = rows
    print(f"{'Ray / local':<14} {f1 / f0:>14.2f}x {o1 / o0 if o0 > 0 else float('nan'):>14.2f}x "
          f"{r1 / r0:>9.2f}x")


if __name__ == "__main__":
    main()
