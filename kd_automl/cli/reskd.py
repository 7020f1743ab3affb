"""``kd-automl reskd SPEC``: grow a ResKD ensemble of searched res-students (Optuna or NNI NAS)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kd_automl.cli.options import Db, Verbose, Workspace_, console, err_console, setup_logging

app = typer.Typer()


class Backend(StrEnum):
    optuna = "optuna"
    nni = "nni"


class NasStrategy(StrEnum):
    Random = "Random"
    RegularizedEvolution = "RegularizedEvolution"
    TPE = "TPE"


@app.command("reskd")
def reskd(
    spec: Annotated[Path, typer.Argument(help="Experiment spec with a 'reskd' section.")],
    backend: Annotated[Backend, typer.Option(help="Who searches each res-student's "
                                             "architecture: optuna (TPE) or nni (multi-trial "
                                             "NAS).")] = Backend.optuna,
    strategy: Annotated[NasStrategy | None, typer.Option(
        help="NNI NAS strategy (default: reskd.strategy of the spec).")] = None,
    trials: Annotated[int | None, typer.Option(
        "--trials", "-n", help="Architectures per stage (default: reskd.trials_per_stage).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 (default: auto).")] = None,
    workspace: Workspace_ = None,
    db: Db = None,
    verbose: Verbose = False,
) -> None:
    """ResKD: res-students learn the teacher-ensemble gap, stage by stage, until the residual's
    energy or the FLOPs budget says stop; then adaptive (early-exit) inference."""
    if backend == Backend.nni:
        from kd_automl.extras import require_nni

        require_nni()  # before anything loads
    from kd_automl.reskd import reskd_config, run_reskd
    from kd_automl.spec import load_spec
    from kd_automl.store import Store
    from kd_automl.workspace import Workspace

    setup_logging(verbose)
    s = load_spec(spec)
    reskd_config(s, str(spec))
    ws = Workspace.resolve(workspace)
    store = Store(db or ws.db_url)

    def on_stage(k: int, what: str) -> None:
        err_console.print(f"[bold]stage {k}[/]: {what} ({backend.value})")

    def on_candidate(c) -> None:
        gain = (f"removes {100 * c.gap_reduction:.1f}% of the gap"
                if c.gap_reduction is not None else c.status)
        acc = f"ensemble val {100 * c.val_acc:.2f}%" if c.val_acc is not None else ""
        err_console.print(f"  {c.trial_id} {c.arch} {c.flops:,} FLOPs {gain} {acc} "
                          f"objective {c.objective:.3f}", highlight=False)

    summary = run_reskd(s, ws, store, backend=backend.value,
                        strategy=strategy.value if strategy else None, trials_per_stage=trials,
                        device=device, on_candidate=on_candidate, on_stage=on_stage)
    table = Table(title=f"{summary.experiment} ({summary.backend}): stopped by "
                        f"{summary.stop_reason}")
    for col in ("stage", "architecture", "FLOPs / teacher", "ensemble FLOPs", "ensemble test acc",
                "gap reduction"):
        table.add_column(col)
    for m in summary.members:
        a = m["arch"]
        table.add_row(str(m["stage"]), f"{a['block']} d{a['depth']} w{a['width']} k{a['kernel']}",
                      f"{m['flops_frac']:.3f}", f"{m['ensemble_flops_frac']:.3f}",
                      f"{100 * m['ensemble_test_acc']:.2f}%", f"{m['gap_reduction']:.3f}")
    console.print(table)
    console.print(f"teacher test accuracy {100 * summary.teacher_test_acc:.2f}%")
    chosen = summary.adaptive.get("chosen")
    if chosen:
        console.print(f"adaptive inference (threshold {chosen['threshold']}, picked on val): "
                      f"test accuracy {100 * chosen['test_acc']:.2f}% at "
                      f"{100 * chosen['test_flops_frac']:.1f}% of the teacher's FLOPs per sample")
    if summary.nni_experiments:
        console.print(f"NNI NAS experiments: {', '.join(summary.nni_experiments)}")
    console.print(f"stored as experiment {summary.experiment!r} ({summary.backend}) in "
                  f"{store.url}")

