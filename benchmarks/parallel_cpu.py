"""Trials per minute on the CPU with 1, 2 and 4 worker processes, side by side.

Runs the real search (``run_study``, the digits CNN pair of
``search_spaces/digits_kd.yaml``, pruner off) in one workspace whose teacher is
trained first and excluded. Each worker count runs the same number of trials in a
fresh study, twice per row: with the threads kd-automl gives each trial (usable
cores / workers) and, for comparison, with every trial on all the cores (torch's
default, what workers did before; ``--no-all-cores`` skips these slow rows). The
fork server the workers start from is started first and timed on its own line: a
command with workers pays it once.

A second table times whole commands (``python -m kd_automl optuna ... --workers W`` in a
fresh process: imports, fork server, baseline check and ``--command-trials`` trials), so
the start-up cost is inside the ratio: on the CPU the main process runs trials while the
fork server imports, so more workers should never be slower in total.

    uv run python benchmarks/parallel_cpu.py [--trials 8] [--epochs 20] [--workers 1 2 4]
        [--command-trials 8]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import torch
import yaml

from kd_automl.optuna import run_study
from kd_automl.orchestrate.threads import threads_per_trial, usable_cores
from kd_automl.orchestrate.workers import _context, start_fork_server
from kd_automl.spec import apply_params, load_spec

SPEC = Path(__file__).resolve().parents[1] / "search_spaces" / "digits_kd.yaml"


def timed(spec, trials: int, workers: int, threads: int | None, ws: Path, name: str) -> float:
    start = time.perf_counter()
    summary = run_study(spec, trials, workspace=ws, workers=workers, threads=threads,
                        study_name=name, baseline=False)
    assert summary.trials_run == trials and not summary.lost_workers, summary
    return time.perf_counter() - start


def timed_command(spec_path: Path, trials: int, workers: int, ws: Path, name: str) -> float:
    """Wall time of one whole ``kd-automl optuna`` command in a fresh process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kd_automl", "optuna", str(spec_path), "--trials",
                    str(trials), "--workers", str(workers), "--workspace", str(ws),
                    "--study", name], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8, help="trials per row (0: skip that table)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--no-all-cores", dest="all_cores", action="store_false")
    ap.add_argument("--workspace", type=Path, default=None)
    ap.add_argument("--command-trials", type=int, default=8,
                    help="trials per whole-command row (0: skip that table)")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.basicConfig(level=logging.WARNING)
    spec = apply_params(load_spec(SPEC), {"train.epochs": args.epochs, "pruner.name": "none"},
                        source="benchmark")
    all_cores = torch.get_num_threads()
    ws = args.workspace or Path(tempfile.mkdtemp(prefix="kd-parallel-"))
    timed(spec, 1, 1, None, ws, "warm-up")  # trains and caches the teacher and its logits
    if args.trials:  # 0: only the whole commands
        start = time.perf_counter()  # the fork server workers start from: once per command
        start_fork_server(spec)
        probe = _context(spec).Process(target=time.sleep, args=(0,))
        probe.start()
        probe.join()
        fork_server_s = time.perf_counter() - start
        rows = []
        for w in args.workers:
            modes = [("split", None)] + ([("all cores", all_cores)] if args.all_cores and w > 1
                                         else [])
            for mode, threads in modes:
                wall = timed(spec, args.trials, w, threads, ws, f"w{w}-{mode.replace(' ', '-')}")
                rows.append((w, mode, threads or threads_per_trial(w, ceiling=all_cores), wall))
        base = next(r[3] for r in rows if r[1] == "split")
        print(f"\n{args.trials} trials per row, digits CNN, {args.epochs} epochs; "
              f"{usable_cores()} usable cores, torch default {all_cores} threads; "
              f"load average {os.getloadavg()[0]:.1f} at the end")
        print(f"fork server start (imports, once per command with workers; not in the rows): "
              f"{fork_server_s:.1f} s")
        print(f"{'workers':>7}  {'threads/trial':<22}  {'wall s':>7}  {'trials/min':>10}  "
              f"{'vs 1 worker':>11}")
        for w, mode, threads, wall in rows:
            label = f"{threads} ({mode})"
            print(f"{w:>7}  {label:<22}  {wall:7.1f}  {60 * args.trials / wall:10.1f}  "
                  f"{base / wall:10.2f}x")


    if args.command_trials:
        spec_path = ws / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(spec.to_dict()))
        walls = [(w, timed_command(spec_path, args.command_trials, w, ws, f"cmd-w{w}"))
                 for w in args.workers]
        print(f"\nwhole commands, {args.command_trials} trials each (fresh process: imports, "
              f"fork server, baseline; teacher cached)")
        print(f"{'workers':>7}  {'wall s':>7}  {'vs 1 worker':>11}")
        for w, wall in walls:
            print(f"{w:>7}  {wall:7.1f}  {walls[0][1] / wall:10.2f}x")


if __name__ == "__main__":
    main()
