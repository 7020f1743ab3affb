"""``kd-automl optuna worker SPEC --study NAME --db URL``: join a running study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand

from kd_automl.cli.options import Verbose, Workspace_, console, err_console, setup_logging

app = typer.Typer()

WORKER_ARGV = ("optuna", "worker")  # `kd-automl optuna worker ...` runs this command


class _WorkerCommand(TyperCommand):
    """Its usage line and error hints name it as typed: ``kd-automl optuna worker``."""

    def make_context(self, info_name, args, parent=None, **extra):
        return super().make_context(" ".join(WORKER_ARGV), args, parent=parent, **extra)


@app.command("optuna-worker", hidden=True, cls=_WorkerCommand)
def optuna_worker(
    spec: Annotated[Path, typer.Argument(help="The study's experiment spec.")],
    study: Annotated[str, typer.Option(help="Name of the running study to join.")],
    db: Annotated[str, typer.Option(help="SQLAlchemy URL of the study's store, e.g. "
                                    "postgresql+psycopg://user@host/db.")],
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage URL, when not the store's database.")] = None,
    threads: Annotated[int | None, typer.Option(help="Torch threads per trial.")] = None,
    wait: Annotated[float, typer.Option(
        help="Seconds to wait for the study to be started (0: it must exist).")] = 0,
    workspace: Workspace_ = None, verbose: Verbose = False,
) -> None:
    """Join a running Optuna study: take trials from its queue until it has its trials."""
    from kd_automl.orchestrate.join import join_study
    from kd_automl.orchestrate.signals import exit_code

    setup_logging(verbose)

    def line(event) -> None:
        r = event.result
        acc = f" val {100 * r.student_val_acc:.2f}%" if r.student_val_acc is not None else ""
        err_console.print(f"trial {event.number}: {r.status}{acc}", highlight=False)

    try:
        summary = join_study(spec, study, db=db, storage=storage, workspace=workspace,
                             threads=threads, wait_s=wait, on_trial=line)
    except KeyboardInterrupt as err:
        err_console.print("stopped; this worker's running trials are stored as interrupted",
                          highlight=False)
        raise typer.Exit(exit_code(err)) from None
    console.print(f"worker done: {summary.trials_run} trial(s) run here; study {study} has "
                  f"{summary.finished} of {summary.target} finished trial(s)")


def rewrite_argv(args: list[str]) -> list[str]:
    """``optuna worker ...`` -> ``optuna-worker ...`` (``optuna SPEC`` stays as it is)."""
    if tuple(args[:2]) == WORKER_ARGV:
        return ["optuna-worker", *args[2:]]
    return args
