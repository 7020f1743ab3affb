"""How final runs (``kd-automl train``) are shown: one row per seed, then mean ± std and the
95% interval over the seeds of each configuration."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from kd_automl.cli.options import console


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.2f}"


def shown_path(path: Path | None) -> str:
    """A weights file as shown: relative to the current folder when inside it."""
    if path is None:
        return "–"
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _objective(group) -> str:
    v = group.search_objective
    return _pct(v) if group.objective_metric.endswith("_acc") else f"{v:.4g}"


def summary_cell(group) -> str:
    """Test accuracy over the group's seeds: mean ± std [95% interval] (the mean alone for
    one seed)."""
    if group.mean is None:
        return "–"
    text = _pct(group.mean)
    if group.std is not None:
        text += f" ± {_pct(group.std)}"
    if group.ci_low is not None:
        text += f" [{100 * group.ci_low:.1f}, {100 * group.ci_high:.1f}]"
    return text


def finals_table(groups, title: str | None = None) -> Table:
    """The groups' runs, one row per seed, with a mean ± std [95% interval] row under each
    configuration of two or more completed seeds."""
    from kd_automl.store import format_params

    many = len({(g.experiment, g.backend) for g in groups}) > 1
    states = any(r.state != "complete" for g in groups for r in g.runs)
    table = Table(title=title or "Final training (kd-automl train; accuracy %; test over "
                  "seeds: mean ± std [95% interval])")
    cols = (["experiment"] if many else []) + ["trained", "hyperparameters", "epochs", "seed"]
    cols += (["state"] if states else []) + ["val", "test", "weights"]
    for col in cols:
        numeric = col in ("epochs", "seed", "val", "test")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric,
                         min_width=10 if col == "hyperparameters" else None,
                         overflow="fold" if col == "weights" else "ellipsis")
    for g in groups:
        searched = "" if g.search_objective is None else \
            f" (search {g.objective_metric} {_objective(g)})"
        for i, r in enumerate(g.runs):
            first = i == 0
            values = {"experiment": f"{g.experiment} ({g.backend})" if first else "",
                      "trained": g.label + searched if first else "",
                      "hyperparameters": (format_params(g.params) or g.method) if first else "",
                      "epochs": str(g.epochs) if first else "", "seed": str(r.seed),
                      "state": r.state + (f": {r.error.splitlines()[0][:60]}" if r.error else ""),
                      "val": _pct(r.val_acc), "test": _pct(r.test_acc),
                      "weights": shown_path(r.weights)}
            last = i == len(g.runs) - 1 and g.n < 2
            table.add_row(*(values[c] for c in cols), end_section=last)
        if g.n >= 2:
            values = dict.fromkeys(cols, "")
            values.update(seed=f"{g.n} seeds", val=_pct(g.val_mean), test=summary_cell(g))
            table.add_row(*(values[c] for c in cols), style="bold", end_section=True)
    return table


def print_finals(store, experiments: list[str] | None, quiet_if_none: bool = False) -> None:
    """Print the final runs of ``experiments`` (all when None)."""
    from kd_automl.store.finals import finals

    groups = finals(store, experiments)
    if groups:
        console.print(finals_table(groups))
    elif not quiet_if_none:
        console.print("no final runs yet (run kd-automl train SPEC)")
