"""``kd-automl confirm``: re-train an experiment's best trials and its controls over seeds."""

from __future__ import annotations

from typing import Annotated

import typer

from kd_automl.cli.options import Db, Verbose, Workspace_, console, err_console, setup_logging

app = typer.Typer()


@app.command()
def confirm(
    experiment: Annotated[str | None, typer.Option(
        "--experiment", "-e", help="Experiment to confirm (default: the latest).")] = None,
    top: Annotated[int, typer.Option(help="Confirm the K best trials (by the objective "
                                     "the search optimised).")] = 3,
    seeds: Annotated[int, typer.Option(help="Seeds per trial and control (the seeds after "
                                       "the spec's; each moves split, teacher, batch order "
                                       "and init).")] = 3,
    fuse: Annotated[int | None, typer.Option(
        help="Train up to this many runs at once as one fused group where they share one "
        "(default: the spec's fuse).")] = None,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: all usable "
                                                "cores; or $KD_AUTOML_THREADS).")] = None,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
) -> None:
    """Re-train the top K trials, the student alone and plain KD over S seeds; store them
    (role confirm) and show mean ± std and paired differences. A rerun resumes."""
    from kd_automl.cli.confirmed import print_confirmed
    from kd_automl.cli.options import open_store
    from kd_automl.orchestrate.confirm import run_confirm

    setup_logging(verbose)

    def on_trial(event) -> None:
        r = event.result
        acc = "–" if r.student_test_acc is None else f"{100 * r.student_test_acc:.2f}%"
        tail = f" ({r.error})" if r.error else ""
        err_console.print(f"{event.number}: {r.status}, test {acc}{tail}", highlight=False)

    summary = run_confirm(experiment, top, seeds, fuse=fuse, workspace=workspace, db=db,
                          threads=threads, on_trial=on_trial)
    console.print(f"confirm [bold]{summary.experiment}[/]: trials "
                  f"{', '.join('#' + s for s in summary.sources)} and controls on seeds "
                  f"{', '.join(map(str, summary.seeds))}; {summary.run} run(s) trained, "
                  f"{summary.skipped} already stored, {summary.failed} failed",
                  highlight=False, soft_wrap=True)
    print_confirmed(open_store(workspace, db), [summary.experiment])
