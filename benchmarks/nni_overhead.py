"""What a trial costs outside its training: NNI (warm and cold trials) against Optuna, side by side.

The same tiny digits spec (MLP 32 -> MLP 8, KD, 2 epochs per trial) run as whole commands in
one workspace (the teacher trained once, by a warm-up study): ``kd-automl optuna`` and
``kd-automl nni start`` with warm trials (the experiment's trial server; once more at NNI's own
0.5 s manager poll, ``KD_AUTOML_NNI_POLL_S=0.5``, to show what the guard's 0.1 s saves) and cold
ones (``KD_AUTOML_NNI_WARM=0``: a new process per trial), at each concurrency. From the store's
rows: **overhead per trial** = the span from the first trial's start to the last one's end,
times the trials at once, over the trials, less a trial's mean run time (``wall_time_s``): what
each trial waits outside its own training (a new process and its imports, NNI's polling, the
tuner, the store). The ratio is each row's overhead over Optuna's at the same concurrency.

    uv run python benchmarks/nni_overhead.py [--trials 6] [--concurrency 1 2] [--modes ...]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

from kd_automl.store import Store

SPEC = {
    "dataset": {"name": "digits"},
    "teacher": {"arch": "mlp", "width": 32, "depth": 1},
    "student": {"arch": "mlp", "width": 8, "depth": 1},
    "method": {"name": "kd", "temperature": 4.0, "alpha": 0.9},
    "train": {"epochs": 2, "batch_size": 128, "lr": 0.05},
    "teacher_train": {"epochs": 2, "batch_size": 128, "lr": 0.1},
    "pruner": {"name": "none"},
    "seed": 0,
    "search": {"method.temperature": {"_type": "loguniform", "_value": [1, 20]},
               "method.alpha": {"_type": "uniform", "_value": [0.0, 1.0]}},
}
# Each mode's environment: NNI warm (the default), warm at NNI's own 0.5 s manager poll (what
# guard.js shortens), and cold trials (a new process per trial).
MODES = {"Optuna": {}, "NNI warm": {},
         "NNI warm, NNI's 0.5 s poll": {"KD_AUTOML_NNI_POLL_S": "0.5"},
         "NNI cold": {"KD_AUTOML_NNI_WARM": "0"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(mode: str, root: Path, trials: int, concurrency: int,
        name: str | None = None) -> tuple[str, float]:
    """Run one search; the name of its experiment in the store and its wall time."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in mode.lower())
    name = name or f"bench-{slug}-{concurrency}"
    spec = root / f"{name}.yaml"
    spec.write_text(yaml.safe_dump({"name": name, **SPEC}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KD_AUTOML_THREADS": "1",
           "HOME": str(root / "home"), "KD_AUTOML_NNI_WARM": "1", "KD_AUTOML_NNI_POLL_S": "0.1",
           **MODES[mode]}
    ws = ["--workspace", str(root / "ws")]
    if mode == "Optuna":
        args = ["optuna", str(spec), "--trials", str(trials), "--workers", str(concurrency),
                "--threads", "1", "--study", name, *ws]
    else:
        args = ["nni", "start", str(spec), "--trials", str(trials), "--concurrency",
                str(concurrency), "--port", str(_free_port()), *ws]
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "kd_automl", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return name, time.monotonic() - start


def overhead(store: Store, name: str, concurrency: int) -> tuple[float, float, int]:
    """Per-trial overhead and mean run time (s) of the search trials of experiment ``name``."""
    exp = [e for e in store.experiments() if e.name == name or e.name.startswith(f"{name}-")]
    rows = [t for t in store.trials([exp[-1].id], role="search")
            if t.state == "complete" and t.finished_at and t.wall_time_s]
    span = (max(t.finished_at for t in rows) - min(t.started_at for t in rows)).total_seconds()
    run_s = sum(t.wall_time_s for t in rows) / len(rows)
    return span * concurrency / len(rows) - run_s, run_s, len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES),
                    help="the rows to run (Optuna always runs: the ratios are to it)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kd-nni-bench-"))
    run("Optuna", root, 1, 1, name="bench-warm-up")  # the teacher, cached for every row
    load = [os.getloadavg()[0]]
    results = {}
    for c in args.concurrency:
        for mode in ["Optuna", *(m for m in args.modes if m != "Optuna")]:
            name, wall = run(mode, root, args.trials, c)
            load.append(os.getloadavg()[0])
            results[mode, c] = (*overhead(Store(f"sqlite:///{root / 'ws' / 'kd_automl.db'}"),
                                         name, c), wall)
    print(f"{datetime.now():%Y-%m-%d}, {args.trials} trials per run, {os.cpu_count()} CPUs, "
          f"load average {min(load):.1f}-{max(load):.1f}")
    print(f"{'':<27} {'at once':>7} {'overhead/trial':>15} {'trial run':>10} {'command':>9} "
          f"{'vs Optuna':>10}")
    for (mode, c), (over, run_s, n, wall) in results.items():
        ratio = over / results["Optuna", c][0] if results["Optuna", c][0] > 0 else float("nan")
        print(f"{mode:<27} {c:>7} {over:>14.2f}s {run_s:>9.2f}s {wall:>8.0f}s {ratio:>9.1f}x"
              + (f"  ({n} trials)" if n != args.trials else ""))


if __name__ == "__main__":
    main()
