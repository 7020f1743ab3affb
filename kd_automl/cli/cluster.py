"""``kd-automl optuna SPEC --slurm ...`` (its options and display) and ``kd-automl cluster
status|cancel|log JOBID`` (a submitted job array read back from Slurm and the workspace)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kd_automl.cli.options import Workspace_, console, err_console

app = typer.Typer(help="Slurm job arrays started by `kd-automl optuna SPEC --slurm`.",
                  no_args_is_help=True)

Slurm = Annotated[bool, typer.Option(
    "--slurm", help="Run the --workers as one Slurm job array (submitit) on a shared "
    "PostgreSQL study; this process only follows the progress.")]
ClusterProfile = Annotated[Path | None, typer.Option(
    "--cluster", help="A profile file whose `cluster:` section holds the Slurm options "
    "below (implies --slurm; options given here win).")]
Partition = Annotated[str | None, typer.Option(help="Slurm partition.")]
Mem = Annotated[str | None, typer.Option(help="Memory per Slurm task, e.g. 16G.")]
Time = Annotated[str | None, typer.Option(
    "--time", help="Time limit per Slurm task, e.g. 12:00:00 (120 s before it the task "
    "stores its trial with its checkpoint and requeues itself to continue it).")]
Account = Annotated[str | None, typer.Option(help="Slurm account.")]
Qos = Annotated[str | None, typer.Option(help="Slurm QOS.")]
SingleNode = Annotated[bool, typer.Option(
    "--single-node", help="Allow --slurm with SQLite: every task runs on this one node.")]
Detach = Annotated[bool, typer.Option(
    "--detach", help="With --slurm: return after submitting, with the job id.")]


def run_slurm(spec: Path, trials: int, *, workers: int | None, profile: Path | None,
              partition, gpus_per_worker, cpus_per_worker, mem, time, account, qos,
              single_node: bool, detach: bool, workspace, db, study, fresh, threads) -> None:
    """Submit the study's workers; follow its progress (or return with --detach)."""
    from kd_automl.cli.progress import trial_progress
    from kd_automl.orchestrate.signals import exit_code
    from kd_automl.orchestrate.slurm.launch import launch
    from kd_automl.orchestrate.slurm.options import resolve
    from kd_automl.spec import load_spec
    from kd_automl.store import format_params

    options = resolve(profile, workers=workers, partition=partition,
                      gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker,
                      mem=mem, time=time, account=account, qos=qos,
                      single_node=single_node or None)
    s = load_spec(spec)

    def submitted(run) -> None:
        err_console.print(f"submitted job {run.job_id}: {len(run.tasks)} Slurm task(s) on "
                          f"study {run.study_name} ({run.target - run.before} trial(s) to "
                          f"run); `kd-automl cluster status {run.job_id}`", highlight=False,
                          soft_wrap=True)

    try:
        if detach:
            run = launch(s, trials, options, workspace=workspace, db=db, study_name=study,
                         fresh=fresh, threads=threads, detach=True, on_submit=submitted)
            console.print(run.job_id)
            return
        with trial_progress(s, trials, err_console, format_params, None,
                            teacher=None) as on_trial:
            run = launch(s, trials, options, workspace=workspace, db=db, study_name=study,
                         fresh=fresh, threads=threads, on_trial=on_trial,
                         on_submit=submitted)
    except KeyboardInterrupt as err:
        err_console.print(getattr(err, "kept", "stopped; the job was cancelled"),
                          highlight=False, soft_wrap=True)
        owed = getattr(err, "owed", None)
        if owed:
            import shlex

            again = ["kd-automl", "optuna", str(spec), "--trials", str(owed), "--slurm",
                     "--workers", str(options.workers), "--study",
                     getattr(err, "study_name", None) or study or s.name]
            err_console.print(f"to finish this run's {trials} trials (the interrupted ones "
                              f"first, from their checkpoints): `{shlex.join(again)}` with the "
                              "same --db and cluster options", highlight=False, soft_wrap=True)
        raise typer.Exit(exit_code(err)) from None
    import re

    shown = re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", run.db)  # no password on screen
    console.print(f"study [bold]{run.study_name}[/]: {run.trials_run} trial(s) run by job "
                  f"{run.job_id}; store {shown}", soft_wrap=True)
    for line in run.lost_tasks:
        err_console.print(f"note: {line}; the other tasks ran its trials", highlight=False)


JobId = Annotated[str, typer.Argument(help="The job id `--slurm` printed (123, or 123_4 "
                                      "for one task).")]


@app.command()
def status(job: JobId, workspace: Workspace_ = None) -> None:
    """The job's tasks (state, node, run time, restarts) and its study's progress."""
    from kd_automl.orchestrate.slurm import record, scheduler
    from kd_automl.workspace import Workspace

    tasks = scheduler.show_job(job)
    saved = record.load(Workspace.locate(workspace), job)
    if not tasks:
        console.print(f"job {job}: Slurm no longer knows it (ended more than MinJobAge ago, "
                      "or never submitted)")
    for t in sorted(tasks, key=lambda t: int(t.get("ArrayTaskId") or 0)
                    if (t.get("ArrayTaskId") or "0").isdigit() else -1):
        reason = t.get("Reason", "None")
        console.print(f"{scheduler.task_name(t)}  {t.get('JobState', '?'):<10} "
                      f"node {t.get('NodeList') or '-':<10} run {t.get('RunTime', '-')}  "
                      f"restarts {t.get('Restarts', '0')}"
                      + (f"  ({reason})" if reason not in ("None", "") else ""),
                      highlight=False)
    if saved:
        console.print(_study_line(saved), highlight=False)


def _study_line(saved: dict) -> str:
    from kd_automl.errors import KDAutoMLError

    try:
        import optuna

        from kd_automl.orchestrate.optuna.study import open_storage
        from kd_automl.orchestrate.work_queue import counts

        study = optuna.load_study(study_name=saved["study"],
                                  storage=open_storage(saved.get("storage") or saved["db"]))
        finished, running = counts(study)
        return (f"study {saved['study']}: {finished} of {saved['target']} trials finished, "
                f"{running} running")
    except (KDAutoMLError, KeyError, Exception) as err:  # the store may be out of reach
        return f"study {saved.get('study')}: cannot read its store ({err})"


@app.command()
def cancel(job: JobId) -> None:
    """scancel the job (every task); their running trials are stored as interrupted."""
    from kd_automl.errors import KDAutoMLError
    from kd_automl.orchestrate.slurm import scheduler

    if not scheduler.show_job(job):
        raise KDAutoMLError(f"Slurm does not know job {job}")
    left = scheduler.cancel(job)
    if left:
        raise KDAutoMLError(f"job {job}: {len(left)} task(s) still in the queue after scancel: "
                            + ", ".join(f"{t} {s}" for t, s in left))
    console.print(f"job {job} cancelled; no task is left; its running trials are stored as "
                  "interrupted and are retried first when the study resumes", highlight=False)


@app.command()
def log(job: JobId, tail: Annotated[int, typer.Option(
        help="Lines per task (0: all).")] = 40, workspace: Workspace_ = None) -> None:
    """The tasks' logs (submitit's files under <workspace>/slurm/jobs/)."""
    from kd_automl.errors import KDAutoMLError
    from kd_automl.orchestrate.slurm import record, scheduler
    from kd_automl.workspace import Workspace

    ws = Workspace.locate(workspace)
    files = record.task_logs(ws, job)
    if not files:  # another workspace: Slurm knows where it writes
        files = [Path(t["StdOut"]) for t in scheduler.show_job(job)
                 if t.get("StdOut") and Path(t["StdOut"]).is_file()]
    if not files:
        raise KDAutoMLError(f"no log of job {job} under {record.jobs_dir(ws)} (pass the "
                            "--workspace it was submitted from)")
    for path in files:
        lines = path.read_text(errors="replace").splitlines()
        console.print(f"==> {path} <==", highlight=False, markup=False)
        console.print("\n".join(lines[-tail:] if tail else lines), highlight=False,
                      markup=False, soft_wrap=True)
