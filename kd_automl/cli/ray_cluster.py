"""``kd-automl optuna SPEC --ray ADDRESS ...``: its options and display (the workers as Ray
actors; ``kd_automl.orchestrate.ray``)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from kd_automl.cli.options import console, err_console
from kd_automl.errors import KDAutoMLError

Ray = Annotated[str | None, typer.Option(
    "--ray", metavar="ADDRESS", help="Run the --workers as Ray actors on the cluster at "
    "ADDRESS (host:port of the head, ray://host:10001, or auto); this process only follows "
    "the progress.")]
# shared with --slurm, which takes whole numbers
GpusPerWorker = Annotated[float | None, typer.Option(
    help="GPUs per worker (default 0); with --ray a fraction shares a GPU, 0.25: four "
    "workers on one.")]
CpusPerWorker = Annotated[float | None, typer.Option(
    help="CPUs per worker (default 1; also its torch threads); fractions with --ray.")]


def whole(value: float | None, flag: str) -> int | None:
    """A resource count for Slurm, which takes whole numbers."""
    if value is None:
        return None
    if value != int(value):
        raise KDAutoMLError(f"{flag} {value:g}: Slurm takes whole numbers (fractions are for "
                            "--ray)")
    return int(value)


def run_ray(spec: Path, trials: int, *, address: str, workers: int,
            gpus_per_worker: float | None, cpus_per_worker: float | None, workspace, db, study,
            fresh: bool, threads: int | None) -> None:
    """Start the study's worker actors and follow its progress."""
    from kd_automl.cli.progress import trial_progress
    from kd_automl.orchestrate.ray.connect import require_ray
    from kd_automl.orchestrate.ray.options import RayOptions
    from kd_automl.orchestrate.signals import exit_code
    from kd_automl.spec import load_spec
    from kd_automl.store import format_params

    require_ray()  # before anything loads
    options = RayOptions(address=address, workers=workers,
                         cpus_per_worker=1.0 if cpus_per_worker is None else cpus_per_worker,
                         gpus_per_worker=gpus_per_worker or 0.0)
    options.check()
    s = load_spec(spec)
    from kd_automl.orchestrate.ray.launch import launch

    def started(run) -> None:
        err_console.print(f"started {len(run.actors)} worker actor(s) on Ray for study "
                          f"{run.study_name} ({run.target - run.before} trial(s) to run)",
                          highlight=False, soft_wrap=True)

    try:
        with trial_progress(s, trials, err_console, format_params, None,
                            teacher=None) as on_trial:
            run = launch(s, trials, options, workspace=workspace, db=db, study_name=study,
                         fresh=fresh, threads=threads, on_trial=on_trial, on_start=started)
    except KeyboardInterrupt as err:
        err_console.print(getattr(err, "kept", "stopped; the actors were ended"),
                          highlight=False, soft_wrap=True)
        owed = getattr(err, "owed", None)
        if owed:
            again = ["kd-automl", "optuna", str(spec), "--trials", str(owed), "--ray", address,
                     "--workers", str(workers), "--study",
                     getattr(err, "study_name", None) or study or s.name]
            err_console.print(f"to finish this run's {trials} trials (the interrupted ones "
                              f"first, from their checkpoints): `{shlex.join(again)}` with the "
                              "same --db", highlight=False, soft_wrap=True)
        raise typer.Exit(exit_code(err)) from None
    import re

    shown = re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", run.db)  # no password on screen
    for w in sorted(run.workers, key=lambda w: w["name"]):
        console.print(f"actor {w['name']} on node {w['node'][:12]}: "
                      f"{w.get('trials_run', 0)} trial(s)"
                      + (" (restarted by Ray)" if w.get("restarted") else "")
                      + (f" (stopped by {w['stopped']}; its trial went to the others)"
                         if w.get("stopped") else ""), highlight=False)
    console.print(f"study [bold]{run.study_name}[/]: {run.trials_run} trial(s) run by "
                  f"{len(run.actors)} Ray actor(s); store {shown}", soft_wrap=True)
    for line in run.lost:
        err_console.print(f"note: {line}; the other actors ran its trials", highlight=False)
