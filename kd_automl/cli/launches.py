"""``kd-automl launches``: the searches launched in the background (by the dashboard's launch
page or :func:`kd_automl.orchestrate.launches.start`), listed, stopped and their logs read from
a terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from kd_automl.cli.options import Workspace_, console

app = typer.Typer(help="Searches launched in the background (e.g. from the dashboard): list, "
                       "stop, log.", no_args_is_help=True)
LaunchId = Annotated[str, typer.Argument(help="The launch's id (see `kd-automl launches list`).")]


def _workspace(path):
    from kd_automl.workspace import Workspace

    return Workspace.resolve(path)


def _progress(status, stores: dict):
    """The launch's progress from its own store (opened read-only, once per URL); None while
    its experiment is not in the store yet or the store cannot be read."""
    from kd_automl.orchestrate import launches
    from kd_automl.store import Store

    if not status.experiment:
        return None
    url = status.record.db_url
    try:
        if url not in stores:
            stores[url] = Store.for_reading(url)
        return launches.progress(stores[url], status)
    except Exception:
        return None


@app.command("list")
def list_cmd(workspace: Workspace_ = None) -> None:
    """The workspace's launches, newest first: state, trials done, best so far, elapsed, ETA."""
    from kd_automl.orchestrate import launches
    from kd_automl.orchestrate.launches.progress import duration_text

    shown = launches.statuses(_workspace(workspace))
    if not shown:
        console.print("no launches in this workspace")
        return
    table = Table(title="launches")
    for col in ("launch", "backend", "experiment", "state", "done", "running", "best %",
                "elapsed", "ETA"):
        table.add_column(col, justify="right" if col in ("running", "best %") else "left")
    stores: dict = {}
    for s in shown:
        p = _progress(s, stores)
        table.add_row(s.id, s.record.backend, s.experiment or "–", s.state_text,
                      p.done_text if p else "–", str(p.running) if p else "–",
                      f"{100 * p.best:.2f}" if p and p.best is not None else "–",
                      duration_text(p.elapsed_s) if p else "–",
                      duration_text(p.eta_s) if p else "–")
    for store in stores.values():
        store.dispose()
    console.print(table)


@app.command("stop")
def stop_cmd(launch_id: LaunchId, workspace: Workspace_ = None,
             wait: Annotated[bool, typer.Option(
                 "--wait", help="Wait until it has stopped.")] = False) -> None:
    """Stop a launch as Ctrl-C stops its command (its running trials are stored as
    interrupted); an NNI launch through `kd-automl nni stop`."""
    from kd_automl.orchestrate import launches

    ws = _workspace(workspace)
    now = launches.stop(ws, launch_id)
    if wait:
        now = launches.wait(ws, launch_id, timeout=600)
    console.print(f"{launch_id}: {now.state}")


@app.command("log")
def log_cmd(launch_id: LaunchId, workspace: Workspace_ = None) -> None:
    """Print a launch's log (its command's output)."""
    from kd_automl.orchestrate import launches

    s = launches.status(_workspace(workspace), launch_id)
    print(s.log_file.read_text(errors="replace"), end="")
