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


def _diff(p) -> str:
    """``+1.23 ± 0.40`` (paired difference ± its std, in points)."""
    if p is None:
        return "–"
    return _pct(p.mean, signed=True) + (f" ± {_pct(p.std)}" if p.std is not None else "")


def _ci(low, high, signed: bool = False) -> str:
    if low is None:
        return "–"
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"{f.format(100 * low)}, {f.format(100 * high)}"


def _p(p) -> str:
    return "–" if p is None or p.p is None else f"{p.p:.2g}"


def confirmed_table(rows) -> Table:
    """The confirmed rows as a table: test accuracy mean ± std and its 95% interval; for each
    control the paired difference ± std, its 95% interval and the paired t-test's p."""
    from kd_automl.store import format_params

    many = len({(r.experiment, r.backend) for r in rows}) > 1
    table = Table(title="Confirmed over seeds (test accuracy %; Δ = paired difference to the "
                  "control on the same seed; 95% intervals; p: paired t-test)")
    cols = ["experiment"] if many else []
    cols += ["trial", "hyperparameters", "seeds", "test", "95% CI", "Δ alone", "CI", "p",
             "Δ plain KD", "CI ", "p "]
    for col in cols:
        text = col in ("experiment", "trial", "hyperparameters")
        table.add_column(col, justify="left" if text else "right", no_wrap=not text)
    for r in rows:
        a, k = r.vs_alone, r.vs_kd
        values = {"experiment": f"{r.experiment} ({r.backend})", "trial": r.label,
                  "hyperparameters": format_params(r.params) or r.method,
                  "seeds": str(len(r.seeds)),
                  "test": _pct(r.mean) + (f" ± {_pct(r.std)}" if r.std is not None else ""),
                  "95% CI": _ci(r.ci_low, r.ci_high),
                  "Δ alone": _diff(a), "CI": _ci(a.ci_low, a.ci_high, True) if a else "–",
                  "p": _p(a), "Δ plain KD": _diff(k),
                  "CI ": _ci(k.ci_low, k.ci_high, True) if k else "–", "p ": _p(k)}
        table.add_row(*(values[c] for c in cols))
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
