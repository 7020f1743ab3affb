"""Slurm's commands, and the checks made before anything is submitted.

Only sbatch, squeue, scontrol and scancel are used: ``sacct`` needs slurmdbd, which many
small clusters (and this project's CI) do not run, so job states are read from
``scontrol show job`` (Slurm forgets finished jobs after ``MinJobAge``, 300 s by default).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.slurm.options import SlurmOptions

TIMEOUT_S = 60
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
         "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}


def _run(args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S)
    except FileNotFoundError:
        raise KDAutoMLError(f"{args[0]} is not on the PATH: this needs Slurm's client "
                            "commands (run it on the cluster's login node)") from None
    except subprocess.TimeoutExpired:
        raise KDAutoMLError(f"`{' '.join(args)}` did not answer in {TIMEOUT_S} s: is "
                            "slurmctld reachable?") from None
    if check and done.returncode != 0:
        raise KDAutoMLError(f"`{' '.join(args)}` failed: {slurm_message(done)}")
    return done


def slurm_message(done: subprocess.CompletedProcess) -> str:
    """Slurm's own words (stderr, else stdout), on one line each."""
    text = (done.stderr or "").strip() or (done.stdout or "").strip()
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) \
        or f"exit code {done.returncode}"


def require_sbatch() -> None:
    if shutil.which("sbatch") is None:
        raise KDAutoMLError("--slurm needs Slurm's sbatch on the PATH, and it is not there: "
                            "run the command on a login node of the cluster (or drop --slurm "
                            "to run --workers as local processes)")


def node_names(partition: str | None = None) -> list[str]:
    args = ["sinfo", "-h", "-o", "%N", "-N"] + (["-p", partition] if partition else [])
    return sorted({line.strip() for line in _run(args).stdout.splitlines() if line.strip()})


def check_store(db_url: str, options: SlurmOptions) -> None:
    """SQLite is one file on one machine: tasks on other nodes cannot share it."""
    if not db_url.startswith("sqlite"):
        return
    if options.single_node:
        return
    nodes = node_names(options.partition)
    where = (f"partition {options.partition}" if options.partition else "this cluster") \
        + f" has {len(nodes)} node(s)"
    one = (f"; {where} ({nodes[0]}): pass --single-node to run every task on it with this "
           "SQLite file" if len(nodes) == 1 else
           f"; {where}, and a task on another node cannot use this machine's file")
    raise KDAutoMLError(f"--slurm with a SQLite store ({db_url}): the workers share the study "
                        "through its database, so give a server every node reaches, e.g. "
                        "--db postgresql+psycopg://user:password@host/db" + one)


def flag_args(flags: dict[str, Any]) -> list[str]:
    return [f"--{k}" if v is True else f"--{k}={v}" for k, v in flags.items()]


def test_submission(options: SlurmOptions) -> str:
    """``sbatch --test-only`` of the array: Slurm checks the partition, the account, the QOS,
    the GPUs, the memory and the time limit, and nothing is submitted. Returns Slurm's
    answer (when it would start); raises with Slurm's own message."""
    flags = {k: v for k, v in options.sbatch_flags().items() if k not in ("signal", "requeue")}
    args = ["sbatch", "--test-only", f"--array=0-{options.workers - 1}", *flag_args(flags),
            "--wrap", "true"]
    done = _run(args, check=False)
    if done.returncode == 0:
        return slurm_message(done)
    said = slurm_message(done)
    if options.gpus_per_worker and any(w in said.lower() for w in (
            "gres", "gpu", "node configuration is not available", "tres")):
        raise KDAutoMLError(f"the cluster cannot meet --gpus-per-worker "
                            f"{options.gpus_per_worker}"
                            f"{f' in partition {options.partition}' if options.partition else ''}"
                            f" (Slurm: {said}); nothing was submitted")
    raise KDAutoMLError(f"Slurm refuses this request (nothing was submitted): {said}")


def parse_show_job(text: str) -> list[dict[str, str]]:
    """``scontrol -o show job`` lines (one per job or array task) as dicts."""
    jobs = []
    for line in text.splitlines():
        fields: dict[str, str] = {}
        key = None
        for token in line.split(" "):
            name, eq, value = token.partition("=")
            if eq and name and name.replace("/", "").replace(":", "").isalnum():
                key, fields[name] = name, value
            elif key is not None and token:
                fields[key] += " " + token  # a value with a space in it
        if fields:
            jobs.append(fields)
    return jobs


def show_job(job_id: str) -> list[dict[str, str]]:
    """The tasks of a job (array) Slurm still knows; [] when it forgot it or never had it."""
    done = _run(["scontrol", "-o", "show", "job", job_id], check=False)
    if done.returncode != 0:
        if "invalid job id" in (done.stderr or "").lower():
            return []
        raise KDAutoMLError(f"`scontrol show job {job_id}` failed: {slurm_message(done)}")
    return parse_show_job(done.stdout)


def task_name(job: dict[str, str]) -> str:
    """``123_4`` for an array task, ``123`` for a plain job."""
    array, task = job.get("ArrayJobId"), job.get("ArrayTaskId")
    return f"{array}_{task}" if array and task else job.get("JobId", "?")


def queued(job_id: str) -> list[tuple[str, str]]:
    """(task, state) of the job's tasks that are pending or running (squeue, arrays expanded)."""
    done = _run(["squeue", "-h", "-r", "-j", job_id, "-o", "%i %T"], check=False)
    if done.returncode != 0:  # a job squeue no longer knows
        return []
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()]
    return [(r[0], r[1]) for r in rows if len(r) == 2]


def requeue(task: str) -> None:
    """``scontrol requeue`` of one task (``123_4``) or job: Slurm ends it and starts it again
    (``SLURM_RESTART_COUNT`` + 1)."""
    _run(["scontrol", "requeue", task])


def cancel(job_id: str, wait_s: float = 60.0, grace_s: float = 30.0) -> list[tuple[str, str]]:
    """Cancel the job (every task of an array) and wait until none is left in the queue;
    returns the tasks still there after ``wait_s`` (empty: all gone).

    Gently: pending tasks are cancelled at once; running ones get TERM in their step only
    (``scancel --signal=TERM``: a plain scancel also ends the batch shell, and the job with
    it, before the worker has stored its trial), ``grace_s`` to store their trials as
    interrupted and leave, then ``scancel``."""
    _run(["scancel", "--state=PENDING", job_id], check=False)
    _run(["scancel", "--signal=TERM", job_id], check=False)
    deadline = time.monotonic() + grace_s
    while (left := queued(job_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        _run(["scancel", job_id])
    deadline = time.monotonic() + wait_s
    while (left := queued(job_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left
