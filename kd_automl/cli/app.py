"""The ``kd-automl`` command, assembled from one module per command group."""

from __future__ import annotations

import inspect
import sys

import typer

from kd_automl.cli.cluster import app as cluster_app
from kd_automl.cli.confirm import app as confirm_app
from kd_automl.cli.export import app as export_app
from kd_automl.cli.info import app as info_app
from kd_automl.cli.info import data_app
from kd_automl.cli.launches import app as launches_app
from kd_automl.cli.nni import app as nni_app
from kd_automl.cli.options import err_console
from kd_automl.cli.reskd import app as reskd_app
from kd_automl.cli.results import app as results_app
from kd_automl.cli.search import app as search_app
from kd_automl.cli.train import app as train_app
from kd_automl.cli.worker import app as worker_app
from kd_automl.cli.worker import rewrite_argv
from kd_automl.errors import KDAutoMLError

app = typer.Typer(help="Hyperparameter search and AutoML for knowledge distillation.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
for group in (search_app, results_app, confirm_app, export_app, train_app, info_app,
              reskd_app, worker_app):
    app.add_typer(group)  # their commands at the top level: kd-automl optuna, leaderboard, ...
app.add_typer(nni_app, name="nni")
app.add_typer(data_app, name="data")
app.add_typer(launches_app, name="launches")
app.add_typer(cluster_app, name="cluster")


def _summary(doc: str | None) -> str | None:
    """A help text's first paragraph on one line: the wrapped docstring's line breaks are
    not sentence ends (rich keeps them; click cuts the summary at "e.g.")."""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()) if doc else None


def one_line_summaries(typer_app: typer.Typer) -> None:
    """Give every command and group of ``typer_app`` its summary as ``short_help``."""
    for info in typer_app.registered_commands:
        info.short_help = info.short_help or _summary(info.help or inspect.getdoc(info.callback))
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        if sub is not None:
            group.short_help = group.short_help or _summary(group.help or sub.info.help)
            one_line_summaries(sub)


one_line_summaries(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one message and exit 1, never a traceback."""
    try:
        app(args=rewrite_argv(list(sys.argv[1:] if argv is None else argv)),
            prog_name="kd-automl")
    except KDAutoMLError as err:
        from rich.markup import escape  # a message's [brackets] are text ("kd-automl[nni]")

        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False,
                          soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted; finished trials are in the store")
        sys.exit(130)
