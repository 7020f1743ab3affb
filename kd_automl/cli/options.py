"""What every command shares: the consoles, the common options, logging, opening the store."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

console = Console()
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


Workspace_ = Annotated[Path | None, typer.Option(
    "--workspace", "-w", help="Folder for the database, teachers and reports "
    "(default ./runs or $KD_AUTOML_WORKSPACE).")]
Db = Annotated[str | None, typer.Option(
    "--db", help="SQLAlchemy URL of the result store (default: <workspace>/kd_automl.db).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")]
SpecPath = Annotated[Path, typer.Argument(
    help="Experiment spec (YAML or JSON), or a ready spec's name (e.g. digits_kd).")]
Gpus = Annotated[str | None, typer.Option(help="GPU ids to use, e.g. 0,1.")]


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)], force=True)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)


def open_store(workspace: Path | None, db: str | None):
    """The store to write to: ``db``, else the workspace's database (made if need be)."""
    from kd_automl.store import Store
    from kd_automl.workspace import Workspace

    return Store(db or Workspace.resolve(workspace).db_url)


def read_store(workspace: Path | None, db: str | None):
    """The store opened only to read it: works on a read-only workspace or database."""
    from kd_automl.store import Store
    from kd_automl.workspace import Workspace

    return Store.for_reading(db or Workspace.locate(workspace).db_url)
