"""A self-contained HTML report (plotly.js embedded, opens offline)."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

import plotly.io as pio

from kd_automl.analysis.figures import figure_set
from kd_automl.store import Store, leaderboard


def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "–"
    if pct:
        return f"{100 * v:+.2f}" if pct == "signed" else f"{100 * v:.2f}"
    return html.escape(str(v))


def _params(p: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())


def write_report(store: Store, out: Path, experiments: list[str] | None = None,
                 top: int = 20) -> Path:
    """Write the report for ``experiments`` (all when None) to ``out``; returns the path."""
    exps = store.experiments(experiments)
    trials = store.trials([e.id for e in exps])
    rows = leaderboard(store, experiments, top=top)
    counts = {}
    for t in trials:
        counts.setdefault(t.experiment_id, {}).setdefault(t.state, 0)
        counts[t.experiment_id][t.state] += 1
    summary = "".join(
        f"<tr><td>{html.escape(e.name)}</td><td>{e.backend}</td><td>{html.escape(e.dataset)}</td>"
        f"<td>{html.escape(e.teacher or '–')}</td><td>{html.escape(e.student)}</td>"
        f"<td>{e.method}</td><td>{_fmt(counts.get(e.id, {}))}</td></tr>" for e in exps)
    board = "".join(
        f"<tr><td>{r.rank}</td><td>{html.escape(r.experiment)}</td><td>{r.trial}</td>"
        f"<td>{r.method}</td><td>{html.escape(_params(r.params))}</td>"
        f"<td>{_fmt(r.student_val_acc, True)}</td><td>{_fmt(r.student_test_acc, True)}</td>"
        f"<td>{_fmt(r.teacher_test_acc, True)}</td><td>{_fmt(r.gap, True)}</td>"
        f"<td>{_fmt(r.gain, 'signed')}</td></tr>" for r in rows)
    figs = []
    for i, (name, fig) in enumerate(figure_set(trials)):
        figs.append(f'<section id="fig-{name}">' + pio.to_html(
            fig, full_html=False, include_plotlyjs=(i == 0), default_height="460px") + "</section>")
    title = "kd-automl report"
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
font-size:13px}}th{{background:#f3f3f3}}section{{margin:2em 0}}</style></head><body>
<h1>{title}</h1><p>Generated {datetime.now():%Y-%m-%d %H:%M} from {html.escape(store.url)}.
Accuracies in %; gain = student test accuracy minus the student trained alone.</p>
<h2>Experiments</h2><table><tr><th>experiment</th><th>backend</th><th>dataset</th><th>teacher</th>
<th>student</th><th>method</th><th>trials by state</th></tr>{summary}</table>
<h2>Leaderboard (top {top})</h2><table><tr><th>#</th><th>experiment</th><th>trial</th>
<th>method</th><th>hyperparameters</th><th>val acc</th><th>test acc</th><th>teacher acc</th>
<th>gap</th><th>gain vs alone</th></tr>{board}</table>
<h2>Figures</h2>{''.join(figs)}</body></html>"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc)
    return out
