"""How confirmed results are shown: mean ± std over seeds and paired differences (table, CSV,
JSON)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.table import Table

from kd_automl.cli.options import console, err_console


def _pct(v, signed: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:+.2f}" if signed else f"{100 * v:.2f}"


def _ci(low, high, signed: bool = False) -> str:
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"[{f.format(100 * low)}, {f.format(100 * high)}]"


def _diff(p) -> str:
    """The paired difference (points) ± its std, its 95% interval and p, one per line."""
    if p is None:
        return "–"
    lines = [_pct(p.mean, signed=True) + (f" ± {_pct(p.std)}" if p.std is not None else "")]
    if p.ci_low is not None:
        lines.append(_ci(p.ci_low, p.ci_high, signed=True))
    if p.p is not None:
        lines.append(f"p={p.p:.2g}")
    return "\n".join(lines)


def confirmed_table(rows) -> Table:
    """The confirmed rows as a table: test accuracy mean ± std and its 95% interval; for each
    control the paired difference ± std, its 95% interval and the paired t-test's p."""
    from kd_automl.store import format_params

    many = len({(r.experiment, r.backend) for r in rows}) > 1
    table = Table(title="Confirmed over seeds (n seeds; test accuracy %: mean ± std "
                  "[95% interval]; Δ alone, Δ KD: paired difference to the student alone "
                  "and to plain KD on the same seed; p: paired t-test)")
    cols = ["experiment"] if many else []
    cols += ["trial", "hyperparameters", "n", "test", "Δ alone", "Δ KD"]
    for col in cols:
        text = col in ("experiment", "trial", "hyperparameters")
        table.add_column(col, justify="left" if text else "right",
                         min_width=10 if col == "hyperparameters" else None,
                         no_wrap=col in ("test", "Δ alone", "Δ KD"))
    for r in rows:
        test = _pct(r.mean) + (f" ± {_pct(r.std)}" if r.std is not None else "")
        if r.ci_low is not None:
            test += "\n" + _ci(r.ci_low, r.ci_high)
        values = {"experiment": f"{r.experiment} ({r.backend})", "trial": r.label,
                  "hyperparameters": format_params(r.params) or r.method,
                  "n": str(len(r.seeds)), "test": test,
                  "Δ alone": _diff(r.vs_alone), "Δ KD": _diff(r.vs_kd)}
        table.add_row(*(values[c] for c in cols), end_section=True)
    return table


def print_confirmed(store, experiments: list[str] | None, fmt: str = "table",
                    out: Path | None = None, quiet_if_none: bool = False) -> None:
    """Print (or, with ``out``, export) the confirmed results of ``experiments``."""
    from kd_automl.store.confirmed import confirmed, confirmed_to_csv

    rows = confirmed(store, experiments)
    if fmt == "table" and out is None:
        if rows:
            console.print(confirmed_table(rows))
        elif not quiet_if_none:
            console.print("no confirmed trials yet (run kd-automl confirm)")
        return
    if out is not None and fmt == "table":
        fmt = "csv" if out.suffix.lower() == ".csv" else "json"
    text = confirmed_to_csv(rows) if fmt == "csv" else \
        json.dumps([r.to_dict() for r in rows], indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    err_console.print(f"{len(rows)} row(s) written to {out} ({fmt})")
