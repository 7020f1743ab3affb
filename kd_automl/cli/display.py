"""How results are shown: the leaderboard as a table (or CSV/JSON), percentages."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.table import Table

from kd_automl.cli.options import console, err_console
from kd_automl.errors import KDAutoMLError


def pct(v, signed: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:+.2f}" if signed else f"{100 * v:.2f}"


def not_shown(rows: list, every: list, top: int | None) -> str | None:
    """The line under a leaderboard of ``rows`` when some of ``every`` search trial the same
    filters match (in any state) are not in it: how many, in which state, and the option
    that shows them. None when every trial is shown."""
    shown = {r.trial_id for r in rows}
    hidden: dict[str, int] = {}
    for r in every:
        if r.trial_id not in shown:
            hidden[r.state] = hidden.get(r.state, 0) + 1
    if not hidden:
        return None
    shown_states = {r.state for r in rows}
    parts, other_states = [], False
    for state in ("complete", "pruned", "failed", "running", *sorted(hidden)):
        n = hidden.pop(state, 0)
        if n and state in shown_states and top:
            parts.append(f"{n} {state} beyond --top {top}")
        elif n:
            parts.append(f"{n} {state}")
            other_states = True
    hint = " (--state all)" if other_states else ""
    return (f"{len(rows)} of {len(every)} search trials shown; not shown: "
            f"{', '.join(parts)}{hint}")


def print_leaderboard(store, experiments: list[str] | None, top: int | None, fmt: str,
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
        states = list(query.get("states", ["complete"]) or ["all"])
        console.print("no trials match the filters" if filtered
                      else "no completed search trials yet" if states == ["complete"]
                      else f"no search trials in state {', '.join(states)}")
        if not filtered:
            note = not_shown(rows, leaderboard(store, experiments, **{**query, "states": None}),
                             top)
            if note:
                console.print(note, highlight=False)
        if not filtered:  # runs of kd-automl train without a search still show
            from kd_automl.cli.finals import print_finals

            print_finals(store, experiments, quiet_if_none=True)
        return
    # the experiment column shows whenever the query spans experiments (a top K may not)
    many = len({(r.experiment, r.backend) for r in rows}) > 1 \
        or len(store.experiments(experiments)) > 1
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
        caption.append(f"teacher {pct(next(iter(teachers)))}%")
    if len(sizes) == 1 and None not in sizes:
        caption.append(f"student {next(iter(sizes)):,} params")
    kept = any(r.weights for r in rows)
    if kept:
        caption.append("w: weights kept (kd-automl export -e EXP -t TRIAL)")
    title = ("Best trial of each experiment" if query.get("best_per_experiment")
             else "Pareto front" if query.get("pareto") else "Leaderboard")
    table = Table(title=f"{title} (accuracy %; gain = test accuracy minus the student alone)",
                  caption=", ".join(caption) or None)
    show = {"experiment": many, "state": states, "method": len(methods) > 1,
            "teacher": len(teachers) > 1, "params": len(sizes) > 1, "error": errors,
            "w": kept}
    cols = [c for c in ("#", "experiment", "trial", "w", "state", "method", "hyperparameters",
                        "val", "test", "teacher", "gap", "gain", "params", "error")
            if show.get(c, True)]
    for col in cols:
        numeric = col in ("#", "val", "test", "teacher", "gap", "gain", "params")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric,
                         min_width=24 if col == "hyperparameters" else None)
    for r in rows:
        values = {"#": str(r.rank), "experiment": f"{r.experiment} ({r.backend})",
                  "trial": r.trial, "w": "✓" if r.weights else "", "state": r.state,
                  "method": r.method,
                  "hyperparameters": format_params(r.params), "val": pct(r.student_val_acc),
                  "test": pct(r.student_test_acc), "teacher": pct(r.teacher_test_acc),
                  "gap": pct(r.gap), "gain": pct(r.gain, signed=True),
                  "params": "–" if r.student_params is None else f"{r.student_params:,}",
                  "error": r.error or ""}
        table.add_row(*(values[c] for c in cols))
    console.print(table)
    if not (query.get("best_per_experiment") or query.get("pareto")):
        every = leaderboard(store, experiments, **{**query, "states": None})
        note = not_shown(rows, every, top)
        if note:
            console.print(note, highlight=False)
    from kd_automl.cli.confirmed import print_confirmed
    from kd_automl.cli.finals import print_finals

    print_confirmed(store, experiments, quiet_if_none=True)
    print_finals(store, experiments, quiet_if_none=True)
