"""The ``kd-automl`` command."""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from kd_automl.errors import KDAutoMLError

app = typer.Typer(help="Hyperparameter search and AutoML for knowledge distillation.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
console = Console()
err_console = Console(stderr=True)



class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


DEMO_SPEC = "digits_kd"  # a ready spec shipped in the package (kd_automl/specs/)

Workspace_ = Annotated[Path | None, typer.Option(
    "--workspace", "-w", help="Folder for the database, teachers and reports "
    "(default ./runs or $KD_AUTOML_WORKSPACE).")]
Db = Annotated[str | None, typer.Option(
    "--db", help="SQLAlchemy URL of the result store (default: <workspace>/kd_automl.db).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)], force=True)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)


def _store(workspace: Path | None, db: str | None):
    from kd_automl.store import Store
    from kd_automl.workspace import Workspace

    return Store(db or Workspace.resolve(workspace).db_url)


def _read_store(workspace: Path | None, db: str | None):
    """The store opened only to read it: works on a read-only workspace or database."""
    from kd_automl.store import Store
    from kd_automl.workspace import Workspace

    return Store.for_reading(db or Workspace.locate(workspace).db_url)


@app.command()
def check(spec: Annotated[Path, typer.Argument(
        help="Experiment spec (YAML or JSON), or a ready spec's name (e.g. digits_kd).")]) -> None:
    """Validate a spec and its search space without running anything."""
    from kd_automl.spec import load_spec

    s = load_spec(spec)
    console.print(f"[green]ok[/] {spec}: experiment {s.name!r}, method {s.method.name}, "
                  f"{len(s.search)} searched field(s): {', '.join(s.search) or 'none'}")
    from kd_automl.search.strategy import notes

    for line in notes(s):
        console.print(f"note: {line}", highlight=False)


def _run_optuna(spec_path: Path, trials: int, workspace, db, study, fresh, workers, gpus,
                baseline: bool = True, threads: int | None = None, fuse: int | None = None):
    from kd_automl.cli_progress import trial_progress
    from kd_automl.optuna import run_study
    from kd_automl.orchestrate.signals import exit_code
    from kd_automl.spec import load_spec
    from kd_automl.store import format_params

    spec = load_spec(spec_path)
    try:
        with trial_progress(spec, trials, err_console, format_params) as on_trial:
            summary = run_study(spec, trials, workspace=workspace, db=db, study_name=study,
                                fresh=fresh, workers=workers, gpus=gpus, threads=threads,
                                fuse=fuse, on_trial=on_trial, baseline=baseline)
    except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM, SIGHUP: say what was kept
        err_console.print(getattr(err, "kept", "interrupted; finished trials are in the store"),
                          highlight=False, soft_wrap=True)
        raise typer.Exit(exit_code(err)) from None
    return summary


@app.command("optuna")
def optuna_cmd(
    spec: Annotated[Path, typer.Argument(help="Experiment spec (YAML or JSON).")],
    trials: Annotated[int, typer.Option("--trials", "-n", help="Trials to run (more).")] = 16,
    study: Annotated[str | None, typer.Option(help="Study name (default: the spec's name).")]
    = None,
    fresh: Annotated[bool, typer.Option(help="Start a new, timestamped study instead of "
                                        "resuming the one named after the spec.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes (one GPU each when there "
                                         "are GPUs).")] = 1,
    gpus: Annotated[str | None, typer.Option(help="GPU ids to use, e.g. 0,1.")] = None,
    threads: Annotated[int | None, typer.Option(
        help="Torch threads per trial (default: usable cores / workers; or "
        "$KD_AUTOML_THREADS).")] = None,
    fuse: Annotated[int | None, typer.Option(
        help="Train this many trials at once as one fused group sharing the teacher, "
        "refilled as trials end (default: the spec's fuse, 1).")] = None,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
) -> None:
    """Run (or resume) an Optuna study of SPEC; every trial lands in the store."""
    _setup_logging(verbose)
    gpu_list = [int(g) for g in gpus.split(",")] if gpus else None
    summary = _run_optuna(spec, trials, workspace, db, study, fresh, workers, gpu_list,
                          threads=threads, fuse=fuse)
    console.print(f"study [bold]{summary.study_name}[/]: {summary.trials_run} trial(s) run; "
                  f"store {summary.db}")
    _print_leaderboard(_store(workspace, summary.db), [summary.experiment], top=10, fmt="table")
    if summary.lost_workers:
        raise KDAutoMLError(f"{'; '.join(summary.lost_workers)}; the other workers ran its "
                            f"trials ({summary.trials_run} of {trials} finished)")


def _pct(v, signed: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:+.2f}" if signed else f"{100 * v:.2f}"


def _print_leaderboard(store, experiments: list[str] | None, top: int | None, fmt: str,
                       out: Path | None = None, **query) -> None:
    """Print (or, with ``out``, export) the leaderboard; ``query`` goes to ``leaderboard``."""
    from kd_automl.store import format_params
    from kd_automl.store.leaderboard import leaderboard, rows_to_csv, rows_to_json

    try:
        rows = leaderboard(store, experiments, top=top, **query)
    except ValueError as err:
        raise KDAutoMLError(str(err)) from None
    if out is not None:
        fmt = fmt if fmt != "table" else ("csv" if out.suffix.lower() == ".csv" else "json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(rows_to_csv(rows) if fmt == "csv" else rows_to_json(rows) + "\n")
        err_console.print(f"{len(rows)} row(s) written to {out} ({fmt})")
        return
    if fmt in ("json", "csv"):
        sys.stdout.write(rows_to_csv(rows) if fmt == "csv" else rows_to_json(rows) + "\n")
        return
    if not rows:
        filtered = any(query.get(k) for k in ("dataset", "teacher", "student", "method",
                                              "backend"))
        console.print("no trials match the filters" if filtered else "no completed trials yet")
        return
    many = len({(r.experiment, r.backend) for r in rows}) > 1
    states = any(r.state != "complete" for r in rows)
    errors = any(r.error for r in rows)
    # a column whose value is the same on every row moves into the caption
    methods = {r.method for r in rows}
    teachers = {r.teacher_test_acc for r in rows}
    sizes = {r.student_params for r in rows}
    caption = []
    if len(methods) == 1:
        caption.append(f"method {next(iter(methods))}")
    if len(teachers) == 1 and None not in teachers:
        caption.append(f"teacher {_pct(next(iter(teachers)))}%")
    if len(sizes) == 1 and None not in sizes:
        caption.append(f"student {next(iter(sizes)):,} params")
    title = ("Best trial of each experiment" if query.get("best_per_experiment")
             else "Pareto front" if query.get("pareto") else "Leaderboard")
    table = Table(title=f"{title} (accuracy %; gain = test accuracy minus the student alone)",
                  caption=", ".join(caption) or None)
    show = {"experiment": many, "state": states, "method": len(methods) > 1,
            "teacher": len(teachers) > 1, "params": len(sizes) > 1, "error": errors}
    cols = [c for c in ("#", "experiment", "trial", "state", "method", "hyperparameters", "val",
                        "test", "teacher", "gap", "gain", "params", "error")
            if show.get(c, True)]
    for col in cols:
        numeric = col in ("#", "val", "test", "teacher", "gap", "gain", "params")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric,
                         min_width=24 if col == "hyperparameters" else None)
    for r in rows:
        values = {"#": str(r.rank), "experiment": f"{r.experiment} ({r.backend})",
                  "trial": r.trial, "state": r.state, "method": r.method,
                  "hyperparameters": format_params(r.params), "val": _pct(r.student_val_acc),
                  "test": _pct(r.student_test_acc), "teacher": _pct(r.teacher_test_acc),
                  "gap": _pct(r.gap), "gain": _pct(r.gain, signed=True),
                  "params": "–" if r.student_params is None else f"{r.student_params:,}",
                  "error": r.error or ""}
        table.add_row(*(values[c] for c in cols))
    console.print(table)


SortKey = StrEnum("SortKey", {k: k for k in ("objective", "val_acc", "test_acc", "teacher_acc",
                                            "gap", "gain", "params", "flops", "time", "trial")})


@app.command("leaderboard")
def leaderboard_cmd(
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", help="Experiment name (repeatable; default: all).")] = None,
    dataset: Annotated[list[str] | None, typer.Option(help="Dataset (repeatable).")] = None,
    teacher: Annotated[list[str] | None, typer.Option(
        help="Teacher, a substring of its description, e.g. 'resnet' (repeatable).")] = None,
    student: Annotated[list[str] | None, typer.Option(
        help="Student, a substring of its description, e.g. 'width=8' (repeatable).")] = None,
    method: Annotated[list[str] | None, typer.Option(help="Method, e.g. kd (repeatable).")]
    = None,
    backend: Annotated[list[str] | None, typer.Option(help="optuna or nni (repeatable).")]
    = None,
    state: Annotated[list[str] | None, typer.Option(
        help="Trial state: complete (default), pruned, failed, running, or all (repeatable).")]
    = None,
    sort: Annotated[SortKey, typer.Option(
        help="Rank by: objective (each experiment's direction), accuracies and gain high "
        "first, gap/params/flops/time low first.")] = SortKey.objective,
    reverse: Annotated[bool, typer.Option("--reverse", help="Flip the sort order.")] = False,
    best_per_experiment: Annotated[bool, typer.Option(
        "--best-per-experiment", "-b",
        help="Cross-experiment view: rank the best trial of each experiment.")] = False,
    pareto: Annotated[bool, typer.Option(
        "--pareto", help="Only the Pareto front of each experiment's objectives.")] = False,
    top: Annotated[int | None, typer.Option(help="Show the best K trials.")] = None,
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    out: Annotated[Path | None, typer.Option(
        help="Export to this file (CSV or JSON: --format, else the file's extension).")]
    = None,
    workspace: Workspace_ = None, db: Db = None,
) -> None:
    """Rank trials by the experiment's objective, filtered, sorted, exported."""
    states = None if state and "all" in state else (state or ["complete"])
    _print_leaderboard(_read_store(workspace, db), experiment, top, format.value, out=out,
                       dataset=dataset, teacher=teacher, student=student, method=method,
                       backend=backend, states=states, sort=sort.value, reverse=reverse,
                       best_per_experiment=best_per_experiment, pareto=pareto)


@app.command()
def report(
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", help="Experiment name (repeatable; default: all).")] = None,
    out: Annotated[Path | None, typer.Option(help="HTML file to write "
                                             "(default <workspace>/reports/report.html).")]
    = None,
    top: Annotated[int, typer.Option(help="Leaderboard rows in the report.")] = 20,
    workspace: Workspace_ = None, db: Db = None,
) -> None:
    """Write a self-contained Plotly HTML report (summary, leaderboard, figures)."""
    from kd_automl.analysis import write_report
    from kd_automl.workspace import Workspace

    store = _read_store(workspace, db)
    names = {e.name for e in store.experiments()}
    missing = [e for e in experiment or [] if e not in names]
    if missing:
        raise KDAutoMLError(f"no experiment named {', '.join(map(repr, missing))} in "
                            f"{store.url}; known: {', '.join(sorted(names)) or 'none'}")
    if out is None:
        try:
            out = Workspace.resolve(workspace).folder("reports") / "report.html"
        except KDAutoMLError as err:
            raise KDAutoMLError(f"{err}; or pass --out FILE to write the report elsewhere") \
                from None
    path = write_report(store, out, experiment, top=top)
    console.print(f"report written to {path}")


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8050,
    host: Annotated[str, typer.Option(help="Address to bind (127.0.0.1: this machine "
                                      "only); requests must name it (or localhost) as "
                                      "their Host.")] = "127.0.0.1",
    refresh: Annotated[float, typer.Option(help="Seconds between refreshes while a "
                                           "search runs.")] = 5.0,
    token: Annotated[str | None, typer.Option(
        envvar="KD_AUTOML_DASHBOARD_TOKEN", show_envvar=True,
        help="Require this token of every request (the printed URL carries it once, then a "
        "cookie); the environment variable keeps it off the command line.")] = None,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
) -> None:
    """Serve the read-only web dashboard: experiments, leaderboard, trials, figures."""
    from kd_automl.dashboard import serve
    from kd_automl.workspace import Workspace

    _setup_logging(verbose)
    url = db or Workspace.locate(workspace).db_url  # never creates the workspace: read-only

    def ready(u: str) -> None:
        console.print(f"dashboard on [bold]{u}[/] (Ctrl+C to stop)", soft_wrap=True)
        sys.stdout.flush()  # the URL shows even when stdout is a pipe

    serve(url, host=host, port=port, refresh_s=refresh, token=token, on_ready=ready)


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


@app.command()
def demo(
    trials: Annotated[int, typer.Option("--trials", "-n", help="Trials to run.")] = 16,
    fresh: Annotated[bool, typer.Option(help="Start a new study instead of resuming.")] = False,
    workspace: Workspace_ = None, db: Db = None, verbose: Verbose = False,
) -> None:
    """The main job: a KD search on digits, then the leaderboard and the HTML report."""
    from kd_automl.analysis import write_report
    from kd_automl.workspace import Workspace

    _setup_logging(verbose)
    ws = Workspace.resolve(workspace)
    summary = _run_optuna(Path(DEMO_SPEC), trials, ws.root, db, None, fresh, 1, None)
    store = _store(ws.root, summary.db)
    console.print(f"\nstudy [bold]{summary.study_name}[/] ({summary.trials_run} new trial(s)); "
                  f"database {summary.db}")
    _print_leaderboard(store, [summary.experiment], top=10, fmt="table")
    path = write_report(store, ws.folder("reports") / "report.html", [summary.experiment])
    console.print(f"report: {path}")


data_app = typer.Typer(help="Dataset files (CIFAR-10/100): fetch them where a network exists.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


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


def _add_subcommands() -> None:
    from kd_automl.cli_nni import nni_app

    app.add_typer(nni_app, name="nni")
    import kd_automl.cli_reskd  # noqa: F401  (registers `kd-automl reskd`)
    import kd_automl.cli_worker  # noqa: F401  (registers `kd-automl optuna worker`)


_add_subcommands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one message and exit 1, never a traceback."""
    from kd_automl.cli_worker import rewrite_argv

    try:
        app(args=rewrite_argv(list(sys.argv[1:] if argv is None else argv)),
            prog_name="kd-automl")
    except KDAutoMLError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted; finished trials are in the store")
        sys.exit(130)


if __name__ == "__main__":
    main()
