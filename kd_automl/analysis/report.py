"""A self-contained HTML report (plotly.js embedded, opens offline).

>>> write_report(Store("sqlite:///runs/kd_automl.db"), Path("report.html"))   # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from kd_automl.analysis.curves import pick_for_curves
from kd_automl.analysis.figures import figure_set, is_empty
from kd_automl.analysis.reskd import reskd_figures
from kd_automl.analysis.takd import takd_figures
from kd_automl.store.confirmed import ConfirmedRow, Paired, confirmed
from kd_automl.store.finals import FinalGroup, finals
from kd_automl.store.leaderboard import Row, leaderboard
from kd_automl.store.records import ExperimentRecord, TrialRecord
from kd_automl.store.store import Store

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
font-size:13px;text-align:left}th{background:#f3f3f3}td.n{text-align:right}
section{margin:2em 0}.muted{color:#777}"""


def _pct(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:+.2f}" if signed else f"{100 * v:.2f}"


def _params(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """An HTML table; cells are escaped here."""
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(
        f'<td class="n">{html.escape(c)}</td>' if i in numeric else f"<td>{html.escape(c)}</td>"
        for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _summary(exps: list[ExperimentRecord], trials: list[TrialRecord]) -> str:
    counts: dict[int, dict[str, int]] = {}
    best: dict[int, TrialRecord] = {}
    for t in trials:  # search trials only: the student alone has its own column
        if t.role == "search":
            counts.setdefault(t.experiment_id, {}).setdefault(t.state, 0)
            counts[t.experiment_id][t.state] += 1
    for t in leaderboard_best(trials):
        best[t.experiment_id] = t
    rows = []
    for e in exps:
        b = best.get(e.id)
        c = counts.get(e.id, {})
        obj = None if b is None else b.objective
        rows.append([e.name, e.backend, e.dataset, e.teacher or "–", e.student, e.method,
                     ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none",
                     f"{e.objective_metric} ({e.direction})", _pct(obj),
                     _pct(b.student_test_acc if b else None), _pct(e.baseline_test_acc),
                     _params(b.params) if b else "–"])
    return _table(["experiment", "backend", "dataset", "teacher", "student", "method",
                   "search trials by state", "objective", "best %", "best: test acc %",
                   "student alone: test acc %", "best hyperparameters"], rows, {8, 9, 10})


def leaderboard_best(trials: list[TrialRecord]) -> list[TrialRecord]:
    """The best completed search trial of each experiment."""
    best: dict[int, TrialRecord] = {}
    for t in trials:
        if t.role != "search" or t.state != "complete":
            continue
        v = t.student_val_acc if t.experiment.objective_metric == "val_acc" \
            else t.student_test_acc
        if v is None:
            continue
        cur = best.get(t.experiment_id)
        if cur is None:
            best[t.experiment_id] = t
            continue
        cv = cur.student_val_acc if t.experiment.objective_metric == "val_acc" \
            else cur.student_test_acc
        if (v > cv) if t.experiment.direction != "minimize" else (v < cv):
            best[t.experiment_id] = t
    return list(best.values())


def _board(rows: list[Row]) -> str:
    if not rows:
        return '<p class="muted">no completed trials yet</p>'
    return _table(["#", "experiment", "backend", "trial", "method", "hyperparameters",
                   "val acc %", "test acc %", "teacher acc %", "gap %", "gain vs alone %",
                   "student params"],
                  [[str(r.rank), r.experiment, r.backend, r.trial, r.method, _params(r.params),
                    _pct(r.student_val_acc), _pct(r.student_test_acc),
                    _pct(r.teacher_test_acc), _pct(r.gap), _pct(r.gain, True),
                    "–" if r.student_params is None else f"{r.student_params:,}"]
                   for r in rows], {0, 6, 7, 8, 9, 10, 11})


def _paired(p: Paired | None) -> str:
    if p is None:
        return "–"
    text = _pct(p.mean, True) + (f" ± {_pct(p.std)}" if p.std is not None else "")
    if p.ci_low is not None:
        text += f" [{_pct(p.ci_low, True)}, {_pct(p.ci_high, True)}]"
    return text + (f", p={p.p:.2g}" if p.p is not None else "")


def _confirmed(rows: list[ConfirmedRow]) -> str:
    """``kd-automl confirm``'s results: test accuracy over seeds and the paired differences."""
    return _table(
        ["experiment", "trial", "hyperparameters", "seeds", "search objective",
         "test acc % mean ± std [95% interval]", "vs student alone (paired)",
         "vs plain KD (paired)"],
        [[r.experiment, r.label, _params(r.params) or r.method, str(len(r.seeds)),
          "–" if r.search_objective is None else f"{r.search_objective:.4g}",
          _pct(r.mean) + (f" ± {_pct(r.std)} [{_pct(r.ci_low)}, {_pct(r.ci_high)}]"
                          if r.std is not None and r.ci_low is not None else ""),
          _paired(r.vs_alone), _paired(r.vs_kd)] for r in rows], {3, 4, 5, 6, 7})


def _finals(groups: list[FinalGroup]) -> str:
    """``kd-automl train``'s runs: one row per configuration, its seeds and their accuracy."""
    def search(g: FinalGroup) -> str:
        v = g.search_objective
        return "–" if v is None else _pct(v) if g.objective_metric.endswith("_acc") \
            else f"{v:.4g}"

    def test(g: FinalGroup) -> str:
        if g.mean is None:
            return "–"
        return _pct(g.mean) + (f" ± {_pct(g.std)} [{_pct(g.ci_low)}, {_pct(g.ci_high)}]"
                               if g.std is not None and g.ci_low is not None else "")

    return _table(
        ["experiment", "trained", "hyperparameters", "epochs", "seeds", "search objective",
         "val acc % (mean)", "test acc % mean ± std [95% interval]", "test acc % by seed",
         "weights"],
        [[g.experiment, g.label, _params(g.params) or g.method, str(g.epochs),
          " ".join(str(r.seed) for r in g.runs), search(g), _pct(g.val_mean), test(g),
          " ".join(f"{r.seed}: {_pct(r.test_acc)}" for r in g.runs),
          ", ".join(str(r.weights) for r in g.runs if r.weights) or "–"] for g in groups],
        {3, 5, 6, 7})


def _message(fig: go.Figure) -> str:
    ann = fig.layout.annotations
    return ann[0].text if ann else "nothing to show"


def method_figures(store: Store, exps: list[ExperimentRecord], trials: list[TrialRecord]
                   ) -> list[tuple[str, go.Figure]]:
    """The figures of specific methods (TAKD, ResKD), only when ``trials`` have them.

    TAKD's no-assistant line may come from a ``kd`` experiment outside ``exps`` on the
    same dataset, teacher and student; it is looked up in ``store``.
    """
    pairs = {(e.dataset, e.teacher, e.student) for e in exps if e.method == "takd"}
    ids = {e.id for e in exps}
    others = [e.id for e in store.experiments() if e.id not in ids and e.method == "kd"
              and (e.dataset, e.teacher, e.student) in pairs] if pairs else []
    reference = store.trials(others) if others else []
    return takd_figures(trials, reference) + reskd_figures(trials)


def default_report_file(workspace: str | Path | None = None) -> Path:
    """The report's default path in the workspace (made writable), or one clear error."""
    from kd_automl.errors import KDAutoMLError
    from kd_automl.workspace import Workspace

    try:
        return Workspace.resolve(workspace).report_file()
    except KDAutoMLError as err:
        raise KDAutoMLError(f"{err}; or pass --out FILE to write the report elsewhere") from None


def write_report(store: Store, out: Path, experiments: list[str] | None = None,
                 top: int = 20) -> Path:
    """Write the report for ``experiments`` (all when None) to ``out``; returns the path.

    Sections: a summary per experiment, the leaderboard (top ``top``), the best trial of
    each experiment when there are several, the confirmed results (``kd-automl confirm``)
    and the final runs (``kd-automl train``) when there are any, and every figure that has
    something to show (the others are listed with the reason).
    """
    exps = store.experiments(experiments)
    trials = store.trials([e.id for e in exps]) if exps else []
    rows = leaderboard(store, experiments, top=top, trials=trials) if exps else []
    cross = leaderboard(store, experiments, best_per_experiment=True, trials=trials) \
        if len(exps) > 1 else []
    curve_trials = store.trials_by_id(pick_for_curves(trials), with_epochs=True)
    shown, skipped = [], []
    figures = [*figure_set(trials, curve_trials), *method_figures(store, exps, trials)] \
        if trials else []
    for name, fig in figures:
        if is_empty(fig):
            skipped.append(f"<li>{html.escape(str(fig.layout.title.text))}: "
                           f"{html.escape(_message(fig))}</li>")
            continue
        shown.append(f'<section id="fig-{name}">' + pio.to_html(
            fig, full_html=False, include_plotlyjs=not shown, default_height="460px",
            config={"displaylogo": False}) + "</section>")
    title = "kd-automl report"
    names = ", ".join(html.escape(e.name) for e in exps) or "none"
    parts = [
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body><h1>{title}</h1>",
        f"<p>Generated {datetime.now():%Y-%m-%d %H:%M} from {html.escape(store.url)}; "
        f"experiments: {names}. Accuracies in %; gap = teacher minus student test accuracy; "
        "gain = student test accuracy minus the student trained alone.</p>",
        "<h2>Experiments</h2>",
        _summary(exps, trials) if exps else '<p class="muted">no experiments in this '
                                              "database yet</p>",
        f"<h2>Leaderboard (top {top})</h2>", _board(rows),
    ]
    if cross:
        parts += ["<h2>Best trial of each experiment</h2>", _board(cross)]
    confirmed_rows = confirmed(store, experiments, trials) if exps else []
    if confirmed_rows:
        parts += ['<h2 id="confirmed">Confirmed over seeds</h2>',
                  '<p class="muted">kd-automl confirm: each row re-trained on fresh seeds (split, '
                  "teacher, batch order and init move with the seed); differences are paired "
                  "by seed, with a 95% t-interval and a paired t-test's p.</p>",
                  _confirmed(confirmed_rows)]
    final_groups = finals(store, experiments, trials) if exps else []
    if final_groups:
        parts += ['<h2 id="final">Final training</h2>',
                  '<p class="muted">kd-automl train: a configuration trained to the end, no '
                  "search; one row per configuration and number of epochs, over its seeds "
                  "(the first is the spec as given), with each run's kept weights.</p>",
                  _finals(final_groups)]
    parts.append("<h2>Figures</h2>")
    parts += shown or ['<p class="muted">no figures yet: no completed trials</p>']
    if skipped:
        parts.append('<h3>Not shown</h3><ul class="muted">' + "".join(skipped) + "</ul>")
    parts.append("</body></html>")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
