"""``kd-automl train``: one configuration trained to the end over seeds, no search."""

from __future__ import annotations

from typing import Annotated

import typer

from kd_automl.cli.options import (
    Db,
    SpecPath,
    Verbose,
    Workspace_,
    console,
    err_console,
    setup_logging,
)

app = typer.Typer()


@app.command()
def train(
    spec: SpecPath,
    epochs: Annotated[int | None, typer.Option(
        help="Train this many epochs (default: the spec's train.epochs); the schedule's "
        "milestones and the method's epoch-valued settings scale with it.")] = None,
    seeds: Annotated[int, typer.Option(
        help="Runs on seeds spec.seed, spec.seed+1, ... (the first is the spec as given; "
        "each seed moves split, teacher, batch order and init).")] = 1,
    experiment: Annotated[str | None, typer.Option(
        "--experiment", "-e", help="Store the runs in this experiment (default: the newest "
        "named like the spec, else a new one).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Train again runs already stored complete.")] = False,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: all usable "
                                                "cores; or $KD_AUTOML_THREADS).")] = None,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
) -> None:
    """Train SPEC to the end (no search) on S seeds, storing each run with role final beside
    the search that found it, its weights kept; a rerun skips runs stored complete."""
    from kd_automl.cli.finals import finals_table
    from kd_automl.cli.options import open_store
    from kd_automl.cli.progress import runs_progress
    from kd_automl.orchestrate.final import prepare, run_final
    from kd_automl.store.finals import finals

    setup_logging(verbose)
    given, trained, _ = prepare(spec, epochs)  # bad input: one error, before any output

    def note(line: str) -> None:
        err_console.print(line, highlight=False, soft_wrap=True)

    with runs_progress(given.name, err_console) as progress:
        summary = run_final(spec, epochs=epochs, seeds=seeds, experiment=experiment,
                            force=force, workspace=workspace, db=db, threads=threads,
                            progress=progress, on_note=note)
    where = "new experiment" if summary.created else "experiment"
    found = f", retraining search trial #{summary.source}" if summary.source else ""
    console.print(f"train [bold]{given.name}[/] into {where} {summary.experiment} "
                  f"({summary.backend}){found}: seeds "
                  f"{', '.join(str(j.seed) for j in summary.jobs)} at {trained.train.epochs} "
                  f"epoch(s); {summary.run} run(s) trained, {summary.skipped} already stored, "
                  f"{summary.failed} failed", highlight=False, soft_wrap=True)
    store = open_store(workspace, db)
    try:
        groups = finals(store, [summary.experiment], states=None, trial_ids=summary.trial_ids)
        groups = [g for g in groups if g.backend == summary.backend]
        if groups:
            console.print(finals_table(groups, title="Final training (accuracy %; test over "
                                       "seeds: mean ± std [95% interval])"))
    finally:
        store.dispose()
