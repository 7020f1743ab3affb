"""``kd-automl methods | data download``: what the package knows and the files it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kd_automl.cli.options import console

app = typer.Typer()


@app.command()
def methods(
    name: Annotated[str | None, typer.Argument(help="A method: show its hyperparameters.")] = None,
) -> None:
    """List the distillation methods (what each follows); with NAME, its hyperparameters."""
    from kd_automl.distill.catalog import method_info, method_names  # no torch

    if name is not None:
        _method_details(name, method_info(name))
        return
    table = Table(title="Methods (kd-automl methods NAME for one; sources: docs/methods.md)")
    for col in ("method", "uses", "fuses", "hyperparameters", "follows"):
        table.add_column(col)
    for n in method_names():
        info = method_info(n)
        table.add_row(n, _uses(info), "yes" if info.fusable else "no",
                      ", ".join(info.hyperparameters) or "–", info.source or "–")
    console.print(table)


def _uses(info) -> str:
    return ("teacher, assistant(s)" if info.needs_assistant else
            "teacher logits, weak + strong view" if info.strong_view else
            "teacher features" if info.needs_features else
            "teacher logits" if info.needs_teacher else "no teacher")


def _method_details(name: str, info) -> None:
    console.print(f"[bold]{name}[/]: {info.paper}")
    console.print(f"follows: {info.source or '–'}; uses: {_uses(info)}; "
                  f"fused trials: {'yes' if info.fusable else 'no'}")
    table = Table()
    for col in ("hyperparameter", "default", "valid", "suggested search", "meaning"):
        table.add_column(col)
    for k, h in info.hyperparameters.items():
        valid = ("true/false" if h.flag else "|".join(h.choices) if h.choices else
                 "any" if h.low is None and h.high is None else f">= {h.low}"
                 if h.high is None else f"<= {h.high}" if h.low is None else
                 f"{h.low} to {h.high}")
        search = f"{h.search['_type']} {h.search['_value']}" if h.search else "–"
        table.add_row(k, str(h.default), valid, search, h.doc or "–")
    console.print(table)


data_app = typer.Typer(help="Dataset files (CIFAR-10/100, MNIST, Fashion-MNIST): fetch them "
                       "where a network exists.",
                       no_args_is_help=True)


@data_app.command("download")
def data_download(
    name: Annotated[str, typer.Argument(help="Dataset to fetch: cifar10, cifar100, "
                                               "fashion_mnist or mnist.")],
    root: Annotated[Path | None, typer.Option(help="Data folder (default $KD_AUTOML_DATA, "
                                              "else <workspace>/data).")] = None,
) -> None:
    """Download a dataset's files with torchvision (offline: says where to put them)."""
    from kd_automl.data import download

    path = download(name, str(root) if root else None)
    console.print(f"[green]ok[/] {name} is in {path}")
