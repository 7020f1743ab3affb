"""``kd-automl export``: one trial as a folder to ship (spec, weights, ONNX, model card)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kd_automl.cli.options import Db, Verbose, Workspace_, console, err_console, setup_logging

app = typer.Typer()


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the files to.")],
    experiment: Annotated[str | None, typer.Option(
        "--experiment", "-e", help="The experiment whose trial to export (default: the "
        "latest).")] = None,
    trial: Annotated[str | None, typer.Option(
        "--trial", "-t", help="The trial's number, as the leaderboard shows it.")] = None,
    best: Annotated[bool, typer.Option(
        "--best", help="The best complete search trial by the experiment's objective "
        "(the default without --trial).")] = False,
    onnx: Annotated[bool, typer.Option(help="Also write student.onnx and check it with ONNX "
                                       "Runtime on the test split.")] = True,
    spec_only: Annotated[bool, typer.Option(
        "--spec-only", help="Write spec.yaml and the card without weights (a trial that kept "
        "none): kd-automl train spec.yaml trains it.")] = False,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
) -> None:
    """Write a trial as spec.yaml, student.pt, student.onnx, card.json and README.md."""
    from kd_automl.cli.options import read_store
    from kd_automl.errors import KDAutoMLError
    from kd_automl.export.bundle import export_trial, pick_trial
    from kd_automl.store.confirmed import confirmed

    setup_logging(verbose)
    if best and trial is not None:
        raise KDAutoMLError("--best and --trial choose the trial two ways; give one")
    store = read_store(workspace, db)
    if experiment is None:
        latest = store.experiments()
        if not latest:
            raise KDAutoMLError(f"no experiments in {store.display_url} to export")
        experiment = latest[-1].name
    chosen = pick_trial(store, experiment, trial)
    summary = next(({"mean": r.mean, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "seeds": list(r.seeds)} for r in confirmed(store, [experiment])
                    if r.control is None and r.source == chosen.backend_trial_id), None)
    bundle = export_trial(store, experiment, out, trial=chosen.backend_trial_id, onnx=onnx,
                          spec_only=spec_only, confirmed=summary)
    for line in bundle.warnings:
        err_console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    card = bundle.card
    acc = card["test_acc"]
    console.print(f"exported trial [bold]#{chosen.backend_trial_id}[/] of {experiment} "
                  f"(test {'–' if acc is None else f'{100 * acc:.2f}%'}) to {bundle.folder}:",
                  highlight=False, soft_wrap=True)
    for name in bundle.files:
        console.print(f"  {name}", highlight=False)
    onnx_card = card.get("onnx") or {}
    if "max_abs_logit_diff" in onnx_card:
        console.print(f"  ONNX Runtime vs PyTorch on {onnx_card['checked_images']} test "
                      f"images: max |Δ logits| {onnx_card['max_abs_logit_diff']:.1e}, "
                      f"accuracy {100 * onnx_card['onnxruntime_test_acc']:.2f}% vs "
                      f"{100 * onnx_card['torch_test_acc']:.2f}%", highlight=False)
    console.print(f"retrain: kd-automl train {bundle.files['spec.yaml']}", highlight=False,
                  soft_wrap=True)
