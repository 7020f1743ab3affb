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


def _help_reads_like_click() -> None:
    """Typer's rich help shows a type for every option (``--reverse <bool>``, though a flag
    takes no value: ``--reverse true`` is refused) and braces around a required argument in
    the usage line (``{spec}``). Show flags bare and arguments as ``SPEC`` / ``[SPEC]``, as
    click does. A typer without these hooks is left as it is."""
    from typer import core

    option, argument = getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)
    if option is not None and hasattr(option, "display_type_rich") \
            and not getattr(option, "_kd_flags_bare", False):
        shown = option.display_type_rich

        def display_type_rich(self, ctx):
            if getattr(self, "is_flag", False) or getattr(self, "count", False):
                return None  # a flag takes no value: no metavar
            return shown(self, ctx)

        option.display_type_rich, option._kd_flags_bare = display_type_rich, True
    if argument is not None and hasattr(argument, "_usage_display_name"):
        def _usage_display_name(self) -> str:
            name = self.metavar or self.name.upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        argument._usage_display_name = _usage_display_name


_help_reads_like_click()


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
