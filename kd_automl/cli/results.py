"""``kd-automl leaderboard | report | dashboard``: reading the results."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kd_automl.cli.display import print_leaderboard
from kd_automl.cli.options import (
    Db,
    OutputFormat,
    Verbose,
    Workspace_,
    console,
    read_store,
    setup_logging,
)
from kd_automl.sort_keys import SORT_KEYS

app = typer.Typer()

SortKey = StrEnum("SortKey", {k: k for k in SORT_KEYS})


@app.command("leaderboard")
def leaderboard_cmd(
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", help="Experiment name (repeatable; default: all).")] = None,
    dataset: Annotated[list[str] | None, typer.Option(help="Dataset (repeatable).")] = None,
    teacher: Annotated[list[str] | None, typer.Option(
        help="Teacher, a substring of its description, e.g. 'resnet' (repeatable).")] = None,
    student: Annotated[list[str] | None, typer.Option(
        help="Student, a substring of its description, e.g. 'width=8' (repeatable).")] = None,
    method: Annotated[list[str] | None, typer.Option(help="Method, e.g. kd (repeatable).")]
    = None,
    backend: Annotated[list[str] | None, typer.Option(help="optuna or nni (repeatable).")]
    = None,
    state: Annotated[list[str] | None, typer.Option(
        help="Trial state: complete (default), pruned, failed, running, or all (repeatable).")]
    = None,
    sort: Annotated[SortKey, typer.Option(
        help="Rank by: objective (each experiment's direction), accuracies and gain high "
        "first, gap/params/flops/time low first.")] = SortKey.objective,
    reverse: Annotated[bool, typer.Option("--reverse", help="Flip the sort order.")] = False,
    best_per_experiment: Annotated[bool, typer.Option(
        "--best-per-experiment", "-b",
        help="Cross-experiment view: rank the best trial of each experiment.")] = False,
    pareto: Annotated[bool, typer.Option(
        "--pareto", help="Only the Pareto front of each experiment's objectives.")] = False,
    top: Annotated[int | None, typer.Option(
        help="Show the best K trials (default: all); a line under the table counts those "
        "not shown.")] = None,
    confirmed: Annotated[bool, typer.Option(
        "--confirmed", help="Only the confirmed results (kd-automl confirm): mean ± std over "
        "seeds and paired differences, best confirmed mean first.")] = False,
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    out: Annotated[Path | None, typer.Option(
        help="Export to this file (CSV or JSON: --format, else the file's extension).")]
    = None,
    workspace: Workspace_ = None, db: Db = None,
) -> None:
    """Rank trials by the experiment's objective, filtered, sorted, exported; confirmed
    results (mean ± std over seeds) follow the table."""
    store = read_store(workspace, db)
    store.experiments(experiment, require=True)  # an unknown name: one clear error
    if confirmed:
        from kd_automl.cli.confirmed import print_confirmed

        print_confirmed(store, experiment, format.value, out)
        return
    print_leaderboard(store, experiment, top, format.value, out=out,
                      dataset=dataset, teacher=teacher, student=student, method=method,
                      backend=backend, states=state or ["complete"], sort=sort.value,
                      reverse=reverse, best_per_experiment=best_per_experiment, pareto=pareto)


@app.command()
def report(
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", help="Experiment name (repeatable; default: all).")] = None,
    out: Annotated[Path | None, typer.Option(help="HTML file to write "
                                             "(default <workspace>/reports/report.html).")]
    = None,
    top: Annotated[int, typer.Option(help="Leaderboard rows in the report.")] = 20,
    workspace: Workspace_ = None, db: Db = None,
) -> None:
    """Write a self-contained Plotly HTML report (summary, leaderboard, figures)."""
    from kd_automl.analysis import default_report_file, write_report

    store = read_store(workspace, db)
    store.experiments(experiment, require=True)  # an unknown name: one clear error first
    path = write_report(store, out or default_report_file(workspace), experiment, top=top)
    console.print(f"report written to {path}")


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8050,
    host: Annotated[str, typer.Option(help="Address to bind (127.0.0.1: this machine "
                                      "only); requests must name it (or localhost) as "
                                      "their Host.")] = "127.0.0.1",
    refresh: Annotated[float, typer.Option(help="Seconds between refreshes while a "
                                           "search runs.")] = 5.0,
    token: Annotated[str | None, typer.Option(
        envvar="KD_AUTOML_DASHBOARD_TOKEN", show_envvar=True,
        help="Require this token of every request (the printed URL carries it once, then a "
        "cookie); the environment variable keeps it off the command line.")] = None,
    allow_launch: Annotated[bool, typer.Option(
        "--allow-launch", help="Also start, watch and stop searches from the browser (a "
        "token is then required: --token, or a random one printed once).")] = False,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
) -> None:
    """Serve the web dashboard: experiments, leaderboard, trials, figures (read-only unless
    --allow-launch)."""
    from kd_automl.dashboard import serve
    from kd_automl.workspace import Workspace

    setup_logging(verbose)
    ws = Workspace.resolve(workspace) if allow_launch else Workspace.locate(workspace)
    url = db or ws.db_url  # read-only: never creates the workspace

    def ready(u: str) -> None:
        console.print(f"dashboard on [bold]{u}[/] (Ctrl+C to stop)", soft_wrap=True)
        sys.stdout.flush()  # the URL shows even when stdout is a pipe

    serve(url, host=host, port=port, refresh_s=refresh, token=token, on_ready=ready,
          allow_launch=allow_launch, workspace=ws.root)
