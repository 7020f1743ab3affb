"""Storage cost per trial, without training: SQLite vs PostgreSQL, 1/4/16 worker processes.

Each worker process runs the loop every Optuna worker of kd-automl runs, with the
training replaced by nothing: claim a trial from the shared work queue, ask (with
heartbeats on) and suggest 2 parameters, open its ``kd_trials`` row, report every epoch
(and ask the median pruner, past its warm-up), store the result with its per-epoch curve, tell. The
time of one such trial is the storage round-trips a real trial pays. All workers of a
run share one study (the contention is the point). The sampler is random, so the
number is storage and not TPE's own computation.

    uv run python benchmarks/storage_overhead.py --pg "$(bash .ci/postgres.sh)"
    uv run python benchmarks/storage_overhead.py --workers 1,4 --trials 10 --no-pg
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue as queue_mod
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import optuna

from kd_automl.engine import TrialResult
from kd_automl.orchestrate.optuna_study import (
    OptunaReporter,
    _load_study,
    begin_trial,
    end_trial,
    work_queue,
)
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

SPEC = {
    "name": "storage-bench", "dataset": {"name": "digits"},
    "teacher": {"arch": "mlp", "width": 64}, "student": {"arch": "mlp", "width": 8},
    "method": {"name": "kd"}, "train": {"epochs": 3},
    "pruner": {"name": "median", "warmup_epochs": 1}, "sampler": {"name": "random"},
    "search": {"method.temperature": {"_type": "loguniform", "_value": [1, 20]},
               "method.alpha": {"_type": "uniform", "_value": [0.0, 1.0]}},
}


def _result(epochs: int) -> TrialResult:
    curve = [{"epoch": e, "val_acc": 0.5, "train_loss": 1.0, "train_kd": 0.7, "train_ce": 0.3}
             for e in range(1, epochs + 1)]
    return TrialResult(student_val_acc=0.5, student_test_acc=0.5, teacher_test_acc=0.9,
                       gap=0.4, student_params=626, student_flops=1252, wall_time_s=0.0,
                       curve=curve)


def _worker(url: str, study_name: str, ws: str, target: int, index: int, epochs: int,
            out: mp.Queue) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = parse_spec(SPEC)
    store = Store(url)
    study = _load_study(spec, study_name, url, store_url=url, worker=index, n_trials=0)
    exp = store.experiment(spec, "optuna", name=study_name, study_name=study_name)
    queue = work_queue(study, Workspace(Path(ws)), target)
    times = []
    while True:
        t0 = time.perf_counter()
        if not queue.claim():
            break
        asked = begin_trial(study, spec, store, exp, queue=queue)
        reporter = OptunaReporter.for_spec(asked.trial, spec)
        for epoch in range(1, epochs + 1):
            reporter.report_epoch(epoch, {"val_acc": 0.5})
        end_trial(study, spec, store, asked, _result(epochs))
        times.append(time.perf_counter() - t0)
    store.dispose()
    out.put(times)


def run(url: str, workers: int, trials: int, epochs: int, ws: str) -> dict:
    """Per-trial storage time (ms) of ``workers`` processes sharing one study at ``url``."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    spec = parse_spec(SPEC)
    _load_study(spec, name, url, store_url=url)  # create it (and the schema) once
    Store(url).experiment(spec, "optuna", name=name, study_name=name)
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    target = workers * trials
    start = time.perf_counter()
    procs = [ctx.Process(target=_worker, args=(url, name, ws, target, i, epochs, out))
             for i in range(workers)]
    for p in procs:
        p.start()
    times: list[float] = []
    for _ in procs:
        while True:
            try:
                times += out.get(timeout=5)
                break
            except queue_mod.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise SystemExit(f"a worker failed on {url}") from None
    for p in procs:
        p.join()
    wall = time.perf_counter() - start
    ms = sorted(1000 * t for t in times)
    return {"n": len(ms), "median": statistics.median(ms), "p90": ms[int(0.9 * (len(ms) - 1))],
            "rate": len(ms) / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,4,16")
    ap.add_argument("--trials", type=int, default=20, help="trials per worker")
    ap.add_argument("--epochs", type=int, default=3, help="epochs reported per trial")
    ap.add_argument("--pg", default=os.environ.get("KD_AUTOML_TEST_PG"),
                    help="PostgreSQL URL (default $KD_AUTOML_TEST_PG)")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kd-storage-")
    backends = [] if args.no_sqlite else [("SQLite (WAL)", f"sqlite:///{tmp}/bench.db")]
    if args.pg and not args.no_pg:
        backends.append(("PostgreSQL", args.pg))
    print(f"storage per trial: claim + ask + {len(SPEC['search'])} suggests + kd row + "
          f"{args.epochs} x report (+ should_prune past epoch 1) + result with curve + tell; "
          f"{os.cpu_count()} CPU core(s)\n")
    print("| storage | workers | trials | median ms/trial | p90 ms/trial | trials/s (all) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, url in backends:
        for w in (int(x) for x in args.workers.split(",")):
            r = run(url, w, args.trials, args.epochs, tmp)
            print(f"| {label} | {w} | {r['n']} | {r['median']:.1f} | {r['p90']:.1f} | "
                  f"{r['rate']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
