"""Storage cost per trial, without training: SQLite vs PostgreSQL, 1/4/16 worker processes.

Each worker process runs the loop every Optuna worker of kd-automl runs, with the
training replaced by nothing: claim a trial from the shared work queue, ask (with
heartbeats on) and suggest 2 parameters, open its ``kd_trials`` row, report every epoch
(and ask the median pruner, past its warm-up), store the result with its per-epoch curve, tell. The
time of one such trial is the storage round-trips a real trial pays. All workers of a
run share one study (the contention is the point). The sampler is random, so the
number is storage and not TPE's own computation.

Besides the wall time, each worker counts the SQL statements it sends (a SQLAlchemy
``before_cursor_execute`` listener on every engine of the process): statements per trial
is the machine-independent part of the cost (each one is a round-trip to PostgreSQL).

``--grpc`` adds rows where the workers reach Optuna's tables through Optuna's gRPC storage
proxy (``run_grpc_proxy_server`` in one process holding a cached RDB storage of the
PostgreSQL database; ``GrpcStorageProxy`` in each worker, which caches finished trials).
The kd_ tables are still written directly; the proxy's statements are counted in its
process and added to the workers'. Through the proxy Optuna has no heartbeats, the work
queue counts trials from the client's cache under a file lock, and the one-query pruner
check of ``lean_optuna`` falls back to ``should_prune()``: what a proxied search would be.
It needs ``grpcio`` and ``protobuf``, which kd-automl does not install (the proxy did not
help here, see the README): ``uv run --with grpcio --with protobuf python ...``.

    uv run python benchmarks/storage_overhead.py --pg "$(bash .ci/postgres.sh)"
    uv run python benchmarks/storage_overhead.py --workers 1,4 --trials 10 --no-pg
    uv run --with grpcio --with protobuf python benchmarks/storage_overhead.py --pg "$PG" --grpc
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
import warnings
from pathlib import Path

import optuna
from sqlalchemy import event
from sqlalchemy.engine import Engine

from kd_automl.engine import TrialResult
from kd_automl.orchestrate.optuna.source import OptunaSource
from kd_automl.orchestrate.optuna.study import load_study, work_queue
from kd_automl.orchestrate.runner import run_trials
from kd_automl.search.strategy import build_pruner, build_sampler
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


def _reported(reporter, epochs: int) -> TrialResult:
    for epoch in range(1, epochs + 1):
        reporter.report_epoch(epoch, {"val_acc": 0.5})
    return _result(epochs)


def _statement_counter() -> list[int]:
    """A box counting the SQL statements every engine of this process sends from now on."""
    box = [0]

    def count(*_args) -> None:
        box[0] += 1

    event.listen(Engine, "before_cursor_execute", count)
    return box


def _grpc_study(spec, study_name: str, port: int, index: int) -> optuna.Study:
    """The study through the gRPC proxy: pruner and seeded sampler as ``load_study`` sets."""
    from kd_automl.orchestrate.optuna.study import sampler_seed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.GrpcStorageProxy(host="localhost", port=port)
    storage.wait_server_ready(timeout=60)
    return optuna.load_study(study_name=study_name, storage=storage, pruner=build_pruner(spec),
                             sampler=build_sampler(spec, sampler_seed(spec.seed, index, 0)))


def _worker(url: str, study_name: str, ws: str, target: int, index: int, epochs: int,
            out: mp.Queue, grpc_port: int | None = None) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = parse_spec(SPEC)
    store = Store(url)
    if grpc_port:
        study = _grpc_study(spec, study_name, grpc_port, index)
    else:
        study = load_study(spec, study_name, url, store_url=url, worker=index, n_trials=0)
    exp = store.experiment(spec, "optuna", name=study_name, study_name=study_name)
    queue = work_queue(study, Workspace(Path(ws)), target)
    statements = _statement_counter()
    times, counts = [], []

    class Timed(OptunaSource):  # the runner's path, with a trial that only reports
        def next_trial(self, wait: bool = True):
            self.t0, self.n0 = time.perf_counter(), statements[0]
            trial = super().next_trial(wait)
            if trial is not None:
                trial.run = lambda: _reported(trial.reporter, epochs)
            return trial

        def done(self, trial, result) -> None:
            super().done(trial, result)
            times.append(time.perf_counter() - self.t0)
            counts.append(statements[0] - self.n0)

    run_trials(Timed(study, spec, queue), store, exp, None)
    store.dispose()
    out.put((times, counts))


def _grpc_server(url: str, port: int, threads: int, count) -> None:
    """Optuna's gRPC proxy of ``url`` (a cached RDB storage), counting its statements."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    def counted(*_args) -> None:
        with count.get_lock():
            count.value += 1

    event.listen(Engine, "before_cursor_execute", counted)
    from concurrent.futures import ThreadPoolExecutor

    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    optuna.storages.run_grpc_proxy_server(optuna.storages.get_storage(url), host="localhost",
                                          port=port,
                                          thread_pool=ThreadPoolExecutor(max_workers=threads))


class GrpcProxy:
    """The proxy server process for one PostgreSQL URL, and its statement count."""

    def __init__(self, url: str, threads: int = 32):
        import socket

        with socket.socket() as sock:
            sock.bind(("localhost", 0))
            self.port = sock.getsockname()[1]
        ctx = mp.get_context("fork")
        self.count = ctx.Value("q", 0)
        self.proc = ctx.Process(target=_grpc_server, args=(url, self.port, threads, self.count),
                                daemon=True)
        self.proc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.GrpcStorageProxy(host="localhost", port=self.port) \
                .wait_server_ready(timeout=60)

    def statements(self) -> int:
        with self.count.get_lock():
            return self.count.value

    def close(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


def run(url: str, workers: int, trials: int, epochs: int, ws: str,
        proxy: GrpcProxy | None = None) -> dict:
    """Per-trial storage time (ms) and SQL statements of ``workers`` processes sharing one
    study at ``url`` (through ``proxy`` when given)."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    spec = parse_spec(SPEC)
    load_study(spec, name, url, store_url=url)  # create it (and the schema) once
    Store(url).experiment(spec, "optuna", name=name, study_name=name)
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    target = workers * trials
    served = proxy.statements() if proxy else 0
    start = time.perf_counter()
    port = proxy.port if proxy else None
    procs = [ctx.Process(target=_worker, args=(url, name, ws, target, i, epochs, out, port))
             for i in range(workers)]
    for p in procs:
        p.start()
    times: list[float] = []
    counts: list[int] = []
    for _ in procs:
        while True:
            try:
                got = out.get(timeout=5)
                times += got[0]
                counts += got[1]
                break
            except queue_mod.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise SystemExit(f"a worker failed on {url}") from None
    for p in procs:
        p.join()
    wall = time.perf_counter() - start
    served = proxy.statements() - served if proxy else 0
    ms = sorted(1000 * t for t in times)
    return {"n": len(ms), "median": statistics.median(ms), "p90": ms[int(0.9 * (len(ms) - 1))],
            "rate": len(ms) / wall, "statements": (sum(counts) + served) / len(ms),
            "served": served / len(ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,4,16")
    ap.add_argument("--trials", type=int, default=20, help="trials per worker")
    ap.add_argument("--epochs", type=int, default=3, help="epochs reported per trial")
    ap.add_argument("--pg", default=os.environ.get("KD_AUTOML_TEST_PG"),
                    help="PostgreSQL URL (default $KD_AUTOML_TEST_PG)")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--grpc", action="store_true",
                    help="also PostgreSQL through Optuna's gRPC storage proxy (needs grpcio)")
    args = ap.parse_args()
    if args.grpc:
        try:
            import google.protobuf  # noqa: F401
            import grpc  # noqa: F401
        except ImportError:
            raise SystemExit("--grpc needs grpcio and protobuf: uv run --with grpcio --with "
                             "protobuf python benchmarks/storage_overhead.py ...") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tmp = tempfile.mkdtemp(prefix="kd-storage-")
    backends = [] if args.no_sqlite else [("SQLite (WAL)", f"sqlite:///{tmp}/bench.db", False)]
    if args.pg and not args.no_pg:
        backends.append(("PostgreSQL", args.pg, False))
        if args.grpc:
            backends.append(("PostgreSQL via gRPC proxy", args.pg, True))
    print(f"storage per trial: claim + ask + {len(SPEC['search'])} suggests + kd row + "
          f"{args.epochs} x report (+ should_prune past epoch 1) + result with curve + tell; "
          f"{os.cpu_count()} CPU core(s); load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| storage | workers | trials | SQL statements/trial | median ms/trial | "
          "p90 ms/trial | trials/s (all) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, url, grpc in backends:
        proxy = GrpcProxy(url) if grpc else None
        try:
            for w in (int(x) for x in args.workers.split(",")):
                r = run(url, w, args.trials, args.epochs, tmp, proxy)
                served = f" ({r['served']:.1f} by the proxy)" if proxy else ""
                print(f"| {label} | {w} | {r['n']} | {r['statements']:.1f}{served} | "
                      f"{r['median']:.1f} | {r['p90']:.1f} | {r['rate']:.1f} |", flush=True)
        finally:
            if proxy:
                proxy.close()
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
