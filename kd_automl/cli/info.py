"""``kd-automl methods | data download``: what the package knows and the files it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kd_automl.cli.options import console

app = typer.Typer()


@app.command()
def methods() -> None:
    """List the distillation methods and their hyperparameters."""
    from kd_automl.distill import get_method, method_names

    table = Table(title="Methods (details: docs/methods.md)")
    for col in ("method", "uses", "hyperparameter", "default", "suggested search", "paper"):
        table.add_column(col)
    for name in method_names():
        cls = get_method(name)
        uses = ("teacher, assistant(s)" if cls.needs_assistant else
                "teacher features" if cls.needs_features else
                "teacher logits" if cls.needs_teacher else "no teacher")
        rows = [(k, str(h.default), f"{h.search['_type']} {h.search['_value']}" if h.search
                 else "–") for k, h in cls.hyperparameters.items()] or [("–", "–", "–")]
        for i, row in enumerate(rows):
            first = i == 0
            table.add_row(name if first else "", uses if first else "", *row,
                          cls.paper if first else "", end_section=i == len(rows) - 1)
    console.print(table)


data_app = typer.Typer(help="Dataset files (CIFAR-10/100): fetch them where a network exists.",
                       no_args_is_help=True)


@data_app.command("download")
def data_download(
    name: Annotated[str, typer.Argument(help="Dataset to fetch: cifar10 or cifar100.")],
    root: Annotated[Path | None, typer.Option(help="Data folder (default $KD_AUTOML_DATA, "
                                              "else <workspace>/data).")] = None,
) -> None:
    """Download a dataset's files with torchvision (offline: says where to put them)."""
    from kd_automl.data import download

    path = download(name, str(root) if root else None)
    console.print(f"[green]ok[/] {name} is in {path}")
