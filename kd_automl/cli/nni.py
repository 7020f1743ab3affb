"""``kd-automl nni ...``: NNI experiments from the same spec an Optuna study uses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kd_automl.cli.display import print_leaderboard
from kd_automl.cli.options import (
    Db,
    Gpus,
    SpecPath,
    Verbose,
    Workspace_,
    console,
    err_console,
    setup_logging,
)
from kd_automl.workspace import Workspace

app = typer.Typer(help="NNI experiments with the web UI: start, resume, view, stop, list, "
                      "import.", no_args_is_help=True)

Port = Annotated[int, typer.Option(help="Port of the web UI.")]
Host = Annotated[str, typer.Option(
    help="Interface the web UI listens on; 127.0.0.1 keeps it local. Any other value exposes "
    "it (still behind the secret URL prefix).")]
Detach = Annotated[bool, typer.Option(
    "--detach", help="Return right after launch; the experiment keeps running.")]


def _nni():
    """The NNI backend, or one line saying how to install NNI (the ``nni`` extra). ``import``
    reads NNI's SQLite file itself and runs without it."""
    from kd_automl.extras import require_nni

    require_nni()
    from kd_automl.orchestrate import nni as nx

    return nx


def _say_waiting() -> None:
    err_console.print("waiting for NNI's manager ...", highlight=False)


def _status_line(p, total: int | None, bold: bool = True) -> str:
    c = p.counts
    done = c.get("SUCCEEDED", 0)
    best = f"{100 * p.best:.2f}%" if p.best is not None else "–"
    status = f"[bold]{p.status}[/]" if bold else p.status
    return (f"{status} succeeded {done}/{total or '?'} running "
            f"{c.get('RUNNING', 0) + c.get('WAITING', 0)} failed {c.get('FAILED', 0)} "
            f"stopped early {c.get('EARLY_STOPPED', 0) + c.get('USER_CANCELED', 0)} "
            f"| best {best}")


class _TrialLines:
    """Without a terminal (a log): one plain line per ended trial, as Optuna's progress
    prints, then the final status line."""

    def __init__(self, name: str, total: int | None):
        import time

        self.name, self.total = name, total
        self.t0, self.said = time.monotonic(), set()

    def say(self, line: str) -> None:
        import time

        err_console.print(f"{self.name} {time.monotonic() - self.t0:6.0f}s  {line}",
                          highlight=False, soft_wrap=True, markup=False)

    def __call__(self, p) -> None:
        from kd_automl.store import format_params

        for job in p.ended():
            if job in self.said:
                continue
            self.said.add(job)
            t = p.trials.get(job)
            state = t.state if t is not None and t.state != "running" else p.jobs[job].lower()
            value = ("" if t is None or t.objective is None
                     else f" {t.experiment.objective_metric} {100 * t.objective:.2f}%")
            why = f" ({t.error.splitlines()[0][:120]})" if t is not None and t.error else ""
            params = f" {format_params(t.params)}" if t is not None else ""
            self.say(f"[{len(self.said)}/{self.total or '?'}] trial {job} {state}{value}{why}"
                     f"{params} | {_status_line(p, self.total, bold=False)}")


def _watch(launch, ws, db_url: str, maximize: bool, total: int | None) -> None:
    """Show progress until the experiment ends (a live line on a terminal, else one line per
    trial); Ctrl-C stops it cleanly. Says how to see its web UI again once it closes."""
    from rich.live import Live

    from kd_automl.orchestrate import nni as nx
    from kd_automl.store import Store

    store = Store(db_url)
    try:
        if err_console.is_terminal:
            with Live(console=err_console, refresh_per_second=2) as live:
                final = nx.wait(launch.handle, store, launch.store_name, maximize,
                                lambda p: live.update(_status_line(p, total)))
        else:
            lines = _TrialLines(launch.store_name, total)
            final = nx.wait(launch.handle, store, launch.store_name, maximize, lines)
            err_console.print(_status_line(final, total), highlight=False)
    except KeyboardInterrupt:
        err_console.print("stopping the experiment (finished trials are in the store)...")
        launch.handle.stop()
        raise
    if final.status == "ERROR":
        err_console.print(f"[red]experiment ended in ERROR[/]: {final.errors}")
    launch.handle.stop()
    err_console.print(f"web UI closed; `kd-automl nni view {launch.id}` serves it again "
                      "(read-only)", highlight=False)
    print_leaderboard(store, [launch.store_name], top=10, fmt="table")


@app.command("start")
def start_cmd(
    spec: SpecPath,
    trials: Annotated[int, typer.Option("--trials", "-n", help="Max trials.")] = 16,
    concurrency: Annotated[int, typer.Option(help="Trials at once.")] = 1,
    gpus: Gpus = None,
    use_active_gpu: Annotated[bool, typer.Option(help="Let trials use GPUs other processes "
                                                 "use.")] = False,
    tuner: Annotated[str, typer.Option(help="TPE, Random, Anneal, Evolution, GridSearch, "
                                       "Hyperband, BOHB.")] = "TPE",
    assessor: Annotated[str, typer.Option(help="none, Medianstop, Curvefitting.")] = "none",
    max_duration: Annotated[str | None, typer.Option(help="e.g. 2h, 30m.")] = None,
    port: Port = 8080, host: Host = "127.0.0.1", detach: Detach = False,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
) -> None:
    """Launch an NNI experiment of SPEC; prints the web UI URL, then shows progress."""
    from kd_automl.orchestrate.gpus import parse_gpus
    from kd_automl.spec import load_spec

    nx = _nni()
    setup_logging(verbose)
    s = load_spec(spec)
    ws = Workspace.resolve(workspace)
    db_url = db or ws.db_url
    if s.fuse > 1:
        err_console.print(f"fuse {s.fuse} is ignored by NNI: NNI runs one trial per process "
                          "(use `kd-automl optuna` to train trials as fused groups)")
    err_console.print("training the teacher and the student-alone baseline...")
    launch = nx.start(s, ws, db_url, port=port, host=host, trials=trials,
                      concurrency=concurrency, tuner=tuner, assessor=assessor,
                      gpus=parse_gpus(gpus), use_active_gpu=use_active_gpu,
                      max_duration=max_duration, on_wait=_say_waiting)
    console.print(f"experiment [bold]{launch.id}[/] (store: {launch.store_name})")
    console.print(f"web UI: {launch.url}")
    if detach:
        console.print(f"running in the background; `kd-automl nni stop {launch.id}` stops it")
        return
    _watch(launch, ws, db_url, s.objective.direction == "maximize", trials)


@app.command("resume")
def resume_cmd(
    experiment_id: Annotated[str, typer.Argument(help="NNI experiment id.")],
    trials: Annotated[int | None, typer.Option("--trials", "-n",
                                               help="New max trial number.")] = None,
    port: Port = 8080, host: Host = "127.0.0.1", detach: Detach = False,
    workspace: Workspace_ = None, db: Db = None,
) -> None:
    """Resume a stopped experiment (its trials keep landing in the store)."""
    nx = _nni()

    ws = Workspace.resolve(workspace)
    launch = nx.resume(ws, experiment_id, port=port, host=host, trials=trials,
                       on_wait=_say_waiting)
    console.print(f"resumed [bold]{launch.id}[/]; web UI: {launch.url}")
    if detach:
        return
    _watch(launch, ws, db or ws.db_url, launch.maximize, trials or launch.max_trials)


@app.command("view")
def view_cmd(
    experiment_id: Annotated[str, typer.Argument(help="NNI experiment id.")],
    port: Port = 8080, host: Host = "127.0.0.1", detach: Detach = False,
    workspace: Workspace_ = None,
) -> None:
    """Serve the read-only web UI of a finished experiment until Ctrl-C."""
    import time

    nx = _nni()

    launch = nx.view(Workspace.resolve(workspace), experiment_id, port=port, host=host)
    console.print(f"viewing [bold]{launch.id}[/]; web UI: {launch.url}")
    if detach:
        return
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        launch.handle.stop()


@app.command("stop")
def stop_cmd(experiment_id: Annotated[str, typer.Argument(help="NNI experiment id.")],
             workspace: Workspace_ = None) -> None:
    """Stop a running experiment."""
    nx = _nni()

    stopped = nx.stop(Workspace.resolve(workspace), experiment_id)
    console.print(f"stopped {experiment_id}" if stopped else f"{experiment_id} was not running")


@app.command("list")
def list_cmd(workspace: Workspace_ = None) -> None:
    """List this workspace's NNI experiments (the web UI's URL of those served, to the user
    who launched them)."""
    nx = _nni()

    rows = nx.list_experiments(Workspace.resolve(workspace))
    if not rows:
        console.print("no NNI experiments in this workspace")
        return
    table = Table(title="NNI experiments")
    for col in ("id", "name", "status", "port", "store experiment"):
        table.add_column(col)
    table.add_column("web UI", overflow="fold")
    for r in rows:
        table.add_row(r["id"], r["name"] or "", r["status"], str(r["port"] or ""),
                      r["store_name"], r["url"] or "")
    console.print(table)


@app.command("import")
def import_cmd(
    experiment_id: Annotated[str, typer.Argument(help="NNI experiment id.")],
    spec: Annotated[Path | None, typer.Option(help="The spec it ran (needed for experiments "
                                              "not launched by kd-automl).")] = None,
    nni_dir: Annotated[Path | None, typer.Option(help="NNI's folder of the experiment "
                                                 "(default: in the workspace).")] = None,
    workspace: Workspace_ = None, db: Db = None,
) -> None:
    """Copy an experiment's trials from NNI's database into the store."""
    from kd_automl.orchestrate import nni as nx
    from kd_automl.spec import load_spec
    from kd_automl.store import Store

    ws = Workspace.resolve(workspace)
    store = Store(db or ws.db_url)
    name, copied = nx.import_experiment(ws, experiment_id, store,
                                        load_spec(spec) if spec else None, nni_dir)
    console.print(f"imported {copied} trial(s) of {experiment_id} into experiment {name!r}")
