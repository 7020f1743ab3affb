"""What the launcher benchmarks share (``slurm_overhead.py``, ``ray_overhead.py``): the tiny
digits study, one ``kd-automl optuna`` command in a fresh process, the measure of its trials'
times in the study, and the side-by-side table with its ratios to local workers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
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


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options every launcher benchmark takes (``--trials``, ``--workers``)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    return ap


def command(spec: Path, ws: Path, db: str, study: str, trials: int, workers: int,
            launcher: Sequence[str] = (), prefix: Sequence[str] = ()) -> float:
    """Run one whole ``kd-automl optuna`` command (``launcher``: e.g. ``["--slurm"]``; run
    under ``prefix``, e.g. a network namespace); returns when it started."""
    args = [sys.executable, "-m", "kd_automl", "optuna", str(spec), "--trials", str(trials),
            "--workers", str(workers), "--db", db, "--study", study, "--workspace", str(ws),
            "--threads", "1", *launcher]
    start = time.time()
    subprocess.run([*prefix, *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return start


def measure(db: str, study: str, start: float, workers: int) -> tuple[float, float, float]:
    """(to the first trial, overhead per trial, a trial's mean run) in seconds, of the trials
    the command started at ``start`` ran."""
    s = optuna.load_study(study_name=study, storage=db)
    new = [t for t in s.trials if t.datetime_start
           and t.datetime_start.timestamp() >= start and t.datetime_complete]
    first = min(t.datetime_start for t in new)
    last = max(t.datetime_complete for t in new)
    run = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in new) / len(new)
    span = (last - first).total_seconds()
    return first.timestamp() - start, span * workers / len(new) - run, run


def side_by_side(tag: str, mode: str, launcher: Sequence[str], args: argparse.Namespace,
                 prefix: Sequence[str] = ()) -> None:
    """The same study run with K local workers, then through ``launcher``; print both rows
    and their ratios (launcher / local). Needs ``KD_AUTOML_TEST_PG``."""
    db = os.environ.get("KD_AUTOML_TEST_PG")
    if not db:
        sys.exit("set KD_AUTOML_TEST_PG (bash .ci/postgres.sh prints one)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix=f"kd-{tag}-bench-"))
    name = f"bench-{uuid.uuid4().hex[:6]}"
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": name, **SPEC}))
    ws = root / "ws"
    rows = []
    for label, extra in (("local workers", ()), (mode, launcher)):
        study = f"{name}-{tag if extra else 'local'}"
        command(spec, ws, db, study, 1, 1, (), prefix)  # teacher cached, baseline stored
        start = command(spec, ws, db, study, args.trials, args.workers, extra, prefix)
        rows.append((label, *measure(db, study, start, args.workers)))
    print(f"{datetime.now():%Y-%m-%d}, {args.trials} trials, {args.workers} workers, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':<14} {'to first trial':>15} {'overhead/trial':>15} {'trial run':>10}")
    for label, first, over, run in rows:
        print(f"{label:<14} {first:>14.1f}s {over:>14.2f}s {run:>9.2f}s")
    (_, f0, o0, r0), (_, f1, o1, r1) = rows
    print(f"{mode.split()[0] + ' / local':<14} {f1 / f0:>14.2f}x "
          f"{o1 / o0 if o0 > 0 else float('nan'):>14.2f}x {r1 / r0:>9.2f}x")
