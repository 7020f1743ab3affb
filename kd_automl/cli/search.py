"""``kd-automl check | optuna | demo``: validate a spec, run an Optuna study, the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kd_automl.cli.cluster import (
    Account,
    ClusterProfile,
    Detach,
    Mem,
    Partition,
    Qos,
    SingleNode,
    Slurm,
    Time,
)
from kd_automl.cli.display import print_leaderboard
from kd_automl.cli.options import (
    Db,
    Gpus,
    SpecPath,
    Verbose,
    Workspace_,
    console,
    err_console,
    open_store,
    setup_logging,
)
from kd_automl.cli.ray_cluster import CpusPerWorker, GpusPerWorker, Ray
from kd_automl.errors import KDAutoMLError

app = typer.Typer()

DEMO_SPEC = "digits_kd"  # a ready spec shipped in the package (kd_automl/specs/)


@app.command()
def check(spec: SpecPath) -> None:
    """Validate a spec and its search space without running anything."""
    from kd_automl.search.strategy import notes
    from kd_automl.spec import load_spec

    s = load_spec(spec)
    if not s.search:  # what `optuna` would refuse ("nothing to tune"): say where it goes
        console.print(f"[green]ok[/] {spec}: experiment {s.name!r}, method {s.method.name}, "
                      f"no search section: one configuration, for `kd-automl train {spec}`; "
                      "`kd-automl optuna` and `kd-automl nni start` need a `search:` section",
                      highlight=False, soft_wrap=True)
    else:
        console.print(f"[green]ok[/] {spec}: experiment {s.name!r}, method {s.method.name}, "
                      f"{len(s.search)} searched field(s): {', '.join(s.search)}")
    for line in notes(s):
        console.print(f"note: {line}", highlight=False)


def run_optuna(spec_path: Path, trials: int, workspace, db, study, fresh, workers, gpus,
               baseline: bool = True, threads: int | None = None, fuse: int | None = None,
               warm_start: bool = False, command: list[str] | None = None):
    """``run_study`` with a progress display; a stopped run says what it kept and the
    command that finishes it (``command``: how this one was called, without ``--trials``)."""
    from kd_automl.cli.progress import trial_progress
    from kd_automl.optuna import run_study
    from kd_automl.orchestrate.signals import exit_code
    from kd_automl.spec import load_spec
    from kd_automl.store import format_params

    spec = load_spec(spec_path)
    teacher = _teacher_cached(spec, workspace)
    try:
        best = None if fresh else _best_so_far(workspace, db, study or spec.name, spec)
        with trial_progress(spec, trials, err_console, format_params, best,
                            teacher=teacher) as on_trial:
            summary = run_study(spec, trials, workspace=workspace, db=db, study_name=study,
                                fresh=fresh, workers=workers, gpus=gpus, threads=threads,
                                fuse=fuse, on_trial=on_trial, baseline=baseline,
                                warm_start=warm_start)
    except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM, SIGHUP: say what was kept
        err_console.print(getattr(err, "kept", "interrupted; finished trials are in the store"),
                          highlight=False, soft_wrap=True)
        command = list(command or ["kd-automl", "optuna", str(spec_path)])
        if fresh and "--study" not in command and getattr(err, "study_name", None):
            command += ["--study", err.study_name]  # the new study, not the spec's
        if (advice := resume_advice(err, trials, command)):
            err_console.print(advice, highlight=False, soft_wrap=True)
        raise typer.Exit(exit_code(err)) from None
    return summary


def _best_so_far(workspace, db, study_name: str, spec) -> float | None:
    """The objective's best complete search trial in the study's experiment (a resumed
    study's progress shows it from the start); None for a new one."""
    from kd_automl.cli.options import read_store

    try:
        store = read_store(workspace, db)
        exps = [e for e in store.experiments([study_name]) if e.backend == "optuna"]
        values = [t.objective for t in store.trials([e.id for e in exps], role="search",
                                                    states=["complete"])
                  if t.objective is not None]
    except Exception:  # no store yet
        return None
    if not values:
        return None
    return max(values) if spec.objective.direction != "minimize" else min(values)


def resume_advice(err: BaseException, trials: int, command: list[str]) -> str | None:
    """What the next command does after a stop: the exact one that finishes this run's
    trials (the interrupted ones first), and what the same command would do instead."""
    import os
    import shlex

    owed = getattr(err, "owed", None)
    if owed is None:
        return None
    interrupted = getattr(err, "interrupted", 0)
    retry = (f"; the {interrupted} interrupted trial(s) run first with their own parameters, "
             "continuing from their checkpoints where they saved one" if interrupted else "")
    finish = shlex.join([*command, "--trials", str(owed)])
    if os.environ.get("KD_AUTOML_LAUNCH"):  # a launch from the dashboard: nobody typed it
        head = (f"to finish this launch's {trials} trials, launch it again with trials = "
                f"{owed} (or run `{finish}`)")
    elif owed == 0:
        return "this run's trials all finished" + retry.replace("; the", "; on resume, the")
    else:
        head = f"to finish this run's {trials} trials: `{finish}`"
    again = shlex.join([*command, "--trials", str(trials)])
    return f"{head}{retry}; `{again}` would run {trials} more"


def _command(name: list[str], spec: Path | None, study: str | None, workspace, db) -> list[str]:
    """The command line that resumes this run (the database URL only as a placeholder when
    it may carry a password)."""
    line = ["kd-automl", *name, *([str(spec)] if spec is not None else [])]
    if study:
        line += ["--study", study]
    if workspace:
        line += ["--workspace", str(workspace)]
    if db:
        line += ["--db", db if db.startswith("sqlite") else "<your --db URL>"]
    return line


def _teacher_cached(spec, workspace) -> bool | None:
    """Whether the run finds its teacher in the cache (None: no one teacher to train)."""
    from kd_automl.engine.teacher import teacher_cached
    from kd_automl.workspace import Workspace

    try:
        return teacher_cached(spec, Workspace.resolve(workspace))
    except KDAutoMLError:  # an unusable workspace: run_study says so
        return False


@app.command("optuna")
def optuna_cmd(
    spec: SpecPath,
    trials: Annotated[int, typer.Option("--trials", "-n", help="Trials to run (more).")] = 16,
    study: Annotated[str | None, typer.Option(help="Study name (default: the spec's name).")]
    = None,
    fresh: Annotated[bool, typer.Option(help="Start a new, timestamped study instead of "
                                        "resuming the one named after the spec.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (one GPU each when there "
                                         "are GPUs).")] = 1,
    gpus: Gpus = None,
    threads: Annotated[int | None, typer.Option(
        help="Torch threads per trial (default: usable cores / workers; or "
        "$KD_AUTOML_THREADS).")] = None,
    fuse: Annotated[int | None, typer.Option(
        help="Train this many trials at once as one fused group sharing the teacher, "
        "refilled as trials end (default: the spec's fuse, 1).")] = None,
    warm_start: Annotated[bool, typer.Option(
        "--warm-start", help="Start with the best points of earlier experiments of the same "
        "method in the store, nearest teacher/student pair first (says which).")] = False,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
    slurm: Slurm = False, cluster: ClusterProfile = None, partition: Partition = None,
    gpus_per_worker: GpusPerWorker = None, cpus_per_worker: CpusPerWorker = None,
    mem: Mem = None, time: Time = None, account: Account = None, qos: Qos = None,
    single_node: SingleNode = False, detach: Detach = False, ray: Ray = None,
) -> None:
    """Run (or resume) an Optuna study of SPEC; every trial lands in the store.

    More processes or machines join it: kd-automl optuna worker SPEC --study NAME --db URL;
    on a Slurm cluster: --slurm --workers K --db URL (one job array); on a Ray cluster:
    --ray ADDRESS --workers K --db URL (K actors)"""
    from kd_automl.orchestrate.gpus import parse_gpus

    setup_logging(verbose)
    if ray is not None:
        from kd_automl.cli.ray_cluster import run_ray

        if slurm or cluster is not None or detach:
            raise KDAutoMLError("--ray goes without --slurm, --cluster and --detach")
        return run_ray(spec, trials, address=ray, workers=workers,
                       gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker,
                       workspace=workspace, db=db, study=study, fresh=fresh, threads=threads)
    if slurm or cluster is not None:
        from kd_automl.cli.cluster import run_slurm
        from kd_automl.cli.ray_cluster import whole

        return run_slurm(spec, trials, workers=None if workers == 1 else workers,
                         profile=cluster, partition=partition,
                         gpus_per_worker=whole(gpus_per_worker, "--gpus-per-worker"),
                         cpus_per_worker=whole(cpus_per_worker, "--cpus-per-worker"),
                         mem=mem, time=time, account=account,
                         qos=qos, single_node=single_node, detach=detach, workspace=workspace,
                         db=db, study=study, fresh=fresh, threads=threads)
    if detach:
        raise KDAutoMLError("--detach goes with --slurm (a local run: `kd-automl launches`)")
    summary = run_optuna(spec, trials, workspace, db, study, fresh, workers, parse_gpus(gpus),
                         threads=threads, fuse=fuse, warm_start=warm_start,
                         command=_command(["optuna"], spec, study, workspace, db))
    console.print(f"study [bold]{summary.study_name}[/]: {summary.trials_run} trial(s) run; "
                  f"store {summary.db}")
    print_leaderboard(open_store(workspace, summary.db), [summary.experiment], top=10,
                      fmt="table")
    if summary.lost_workers:
        raise KDAutoMLError(f"{'; '.join(summary.lost_workers)}; the other workers ran its "
                            f"trials ({summary.trials_run} of {trials} finished)")


@app.command()
def demo(
    trials: Annotated[int, typer.Option("--trials", "-n", help="Trials to run.")] = 16,
    fresh: Annotated[bool, typer.Option(help="Start a new study instead of resuming.")] = False,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
) -> None:
    """The main job: a KD search on digits, then the leaderboard and the HTML report."""
    from kd_automl.analysis import write_report
    from kd_automl.workspace import Workspace

    setup_logging(verbose)
    ws = Workspace.resolve(workspace)
    summary = run_optuna(Path(DEMO_SPEC), trials, ws.root, db, None, fresh, 1, None,
                         command=_command(["demo"], None, None, workspace, db))
    store = open_store(ws.root, summary.db)
    console.print(f"\nstudy [bold]{summary.study_name}[/] ({summary.trials_run} new trial(s)); "
                  f"database {summary.db}")
    print_leaderboard(store, [summary.experiment], top=10, fmt="table")
    path = write_report(store, ws.report_file(), [summary.experiment])
    console.print(f"report: {path}")
