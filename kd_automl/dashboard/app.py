"""The Dash app: experiments, a sortable/filterable leaderboard, one trial, the figures.

It only reads: the store is opened read-only and refreshed by a ``dcc.Interval``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import dash_ag_grid as dag
from dash import Dash, Input, Output, State, dcc, html, no_update

from kd_automl.analysis import figure_set, is_empty, loss_terms, pick_for_curves, trial_curves
from kd_automl.dashboard.data import DashboardData
from kd_automl.dashboard.downloads import add_download_routes, spec_url, weights_url
from kd_automl.store.leaderboard import STATES
from kd_automl.store.records import WEIGHTS_KEY
from kd_automl.store.store import Store

log = logging.getLogger(__name__)

_NUM = {"type": "numericColumn", "filter": "agNumberColumnFilter"}
# a difference keeps its sign: +1.25, -0.40 (the value stays a number for sorting, filters)
SIGNED = ("params.value == null ? '' : (params.value > 0 ? '+' : '') + "
          "params.value.toFixed(2)")


def _col(field: str, name: str | None, tip: str, width: int, **kw: Any) -> dict[str, Any]:
    """A column at least ``width`` px wide, and wide enough for the longest word of its
    header beside the sort and filter icons (headers wrap between words, never inside
    one), whose header shows its full name on hover."""
    words = (name or field.replace("_", " ").title()).split()
    return {"field": field, **({"headerName": name} if name else {}), "headerTooltip": tip,
            "minWidth": max(width, 8 * max(map(len, words)) + 54), **kw}


EXPERIMENT_COLUMNS = [
    _col("experiment", None, "experiment name", 170),
    _col("backend", None, "backend (optuna, nni, script)", 95),
    _col("dataset", None, "dataset", 95),
    _col("teacher", None, "teacher model", 130), _col("student", None, "student model", 130),
    _col("method", None, "distillation method", 95),
    _col("objective", None, "objective metric (direction)", 120),
    *(_col(s, None, f"{s} trials", 95, **_NUM) for s in ("complete", "pruned", "failed",
                                                          "running")),
    _col("best", "best %", "best objective value (%)", 90, **_NUM),
    _col("created", None, "created at", 140),
]
LEADERBOARD_COLUMNS = [
    _col("rank", "#", "rank", 60, pinned="left", **_NUM),
    _col("experiment", None, "experiment name", 140),
    _col("backend", None, "backend (optuna, nni, script)", 90),
    _col("trial", None, "trial number as stored", 80),
    _col("state", None, "trial state", 90), _col("method", None, "distillation method", 90),
    _col("hyperparameters", None, "sampled hyperparameters", 280, wrapText=True,
         autoHeight=True, cellStyle={"lineHeight": "1.4", "wordBreak": "break-word"}),
    _col("val_acc", "val %", "student validation accuracy (%)", 80, **_NUM),
    _col("test_acc", "test %", "student test accuracy (%)", 80, **_NUM),
    _col("teacher_acc", "teacher %", "teacher test accuracy (%)", 95, **_NUM),
    _col("gap", "gap %", "teacher minus student test accuracy (points)", 80, **_NUM),
    _col("gain", "gain %", "student test accuracy minus the student alone (points)", 80,
         valueFormatter={"function": SIGNED}, **_NUM),
    _col("student_params", "params", "student parameters", 90, **_NUM),
    _col("student_flops", "FLOPs", "student FLOPs per sample", 90, **_NUM),
]
_CSS = {"fontFamily": "system-ui, sans-serif", "margin": "1em 2em", "color": "#222"}


def _section(title: str, *children: Any, id: str | None = None) -> html.Section:
    kw = {"id": id} if id else {}
    return html.Section([html.H2(title, style={"fontSize": "1.2em"}), *children],
                        style={"margin": "1.5em 0"}, **kw)


def _grid(id: str, columns: list[dict], options: dict | None = None, **kw: Any) -> dag.AgGrid:
    return dag.AgGrid(id=id, columnDefs=columns, rowData=[], className="ag-theme-alpine",
                      defaultColDef={"sortable": True, "filter": True, "resizable": True,
                                     "wrapHeaderText": True, "autoHeaderHeight": True},
                      dashGridOptions={"ensureDomOrder": True, "animateRows": False,
                                       "enableBrowserTooltips": True,
                                       "suppressColumnVirtualisation": True,  # few columns
                                       **(options or {})},
                      columnSize="responsiveSizeToFit", **kw)


def layout(url: str, refresh_s: float) -> html.Div:
    return html.Div([
        html.H1("kd-automl dashboard", style={"fontSize": "1.6em", "marginBottom": "0.2em"}),
        html.Div([html.Span(f"database {url} (read-only)"), html.Span(" · "),
                  html.Span(id="status", children="loading...")],
                 style={"color": "#666", "fontSize": "0.9em"}),
        dcc.Interval(id="tick", interval=int(refresh_s * 1000), n_intervals=0),
        dcc.Store(id="version"),
        _section("Experiments (select to filter; none selected = all)",
                 _grid("experiments", EXPERIMENT_COLUMNS, getRowId="params.data.id",
                       style={"height": "230px"},
                       options={"rowSelection": {"mode": "multiRow", "checkboxes": True,
                                                 "headerCheckbox": True,
                                                 "enableClickSelection": False}})),
        _section("Leaderboard (click a row to open the trial; click a header to sort)",
                 html.Div([
                     dcc.Checklist(id="states", options=list(STATES), value=["complete"],
                                   inline=True, inputStyle={"marginRight": "4px"},
                                   labelStyle={"marginRight": "14px"}),
                     dcc.Checklist(id="best-only",
                                   options=[{"label": "best trial of each experiment",
                                             "value": "best"}], value=[], inline=True),
                 ], style={"display": "flex", "gap": "2em", "marginBottom": "0.5em"}),
                 _grid("leaderboard", LEADERBOARD_COLUMNS, getRowId="params.data.trial_id",
                       style={"height": "380px"}),
                 id="leaderboard-section"),
        _section("Trial", html.Div(id="trial-panel",
                                   children=html.P("click a leaderboard row",
                                                   style={"color": "#777"})),
                 id="trial-section"),
        _section("Figures", dcc.Loading(html.Div(id="figures")), id="figures-section"),
    ], style=_CSS)


def _kv_table(items: list[tuple[str, Any]], id: str | None = None) -> html.Table:
    cell = {"border": "1px solid #ddd", "padding": "3px 8px", "fontSize": "13px"}
    kw = {"id": id} if id else {}
    return html.Table([html.Tr([html.Th(k, style={**cell, "background": "#f4f4f4",
                                                  "textAlign": "left"}),
                                html.Td(_fmt(v), style=cell)]) for k, v in items],
                      style={"borderCollapse": "collapse", "margin": "0.5em 0"}, **kw)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict | list):
        return json.dumps(v, default=str)
    return str(v)


def _pct(v: float | None) -> float | None:
    return None if v is None else round(100 * v, 2)


def _trial_panel(data: DashboardData, trial_id: int) -> list[Any]:
    t = data.trial(trial_id)
    if t is None:
        return [html.P(f"trial {trial_id} is no longer in the database")]
    e = t.experiment
    results = [("state", t.state), ("role", t.role), ("method", t.method or e.method),
               ("student val acc %", _pct(t.student_val_acc)),
               ("student test acc %", _pct(t.student_test_acc)),
               ("teacher test acc %", _pct(t.teacher_test_acc)), ("gap %", _pct(t.gap)),
               ("student params", t.student_params), ("student FLOPs", t.student_flops),
               ("wall time (s)", t.wall_time_s), ("started", t.started_at),
               ("finished", t.finished_at)]
    results += [(f"extra: {k}", v) for k, v in (t.extra or {}).items() if k != WEIGHTS_KEY]
    out: list[Any] = [
        html.H3(f"{e.name} ({e.backend}) trial {t.backend_trial_id}", id="trial-title",
                style={"fontSize": "1.05em"}),
        html.Div([html.Div([html.H4("hyperparameters"),
                            _kv_table(list(t.flat_params.items()) or [("–", None)],
                                      id="trial-params")]),
                  html.Div([html.H4("results"), _kv_table(results, id="trial-results")])],
                 style={"display": "flex", "gap": "3em", "flexWrap": "wrap"}),
        _downloads(t),
    ]
    if t.error:
        out.append(html.Div([html.H4("error", style={"color": "#b00"}),
                             html.Pre(t.error, id="trial-error",
                                      style={"background": "#fff4f4", "padding": "0.6em",
                                             "whiteSpace": "pre-wrap", "maxHeight": "300px",
                                             "overflow": "auto"})]))
    out.append(html.Div([dcc.Graph(figure=trial_curves(t), id="trial-curve"),
                         dcc.Graph(figure=loss_terms(t), id="trial-losses")],
                        style={"display": "grid", "gridTemplateColumns": "1fr 1fr"}))
    return out


def _downloads(t) -> Any:
    """Links to the trial's kept weights and its spec (what ``kd-automl export`` writes)."""
    links: list[Any] = []
    if t.weights is not None:
        links.append(html.A(f"student.pt ({t.weights.size / 1024:.0f} KiB)",
                            href=weights_url(t.id), id="trial-weights", download=""))
    else:
        links.append(html.Span("no weights kept", id="trial-weights",
                               style={"color": "#777"}))
    if t.role in ("search", "confirm", "final"):
        links += [" · ", html.A("spec.yaml", href=spec_url(t.id), id="trial-spec",
                                download="")]
    return html.P(["download: ", *links], id="trial-downloads")


def _figures(data: DashboardData, exp_ids: list[int] | None) -> list[Any]:
    trials = data.trials_of(exp_ids)
    if not trials:
        return [html.P("no trials yet", style={"color": "#777"})]
    curve_trials = data.store.trials_by_id(pick_for_curves(trials), with_epochs=True)
    shown, skipped = [], []
    for name, fig in figure_set(trials, curve_trials):
        if is_empty(fig):
            msg = fig.layout.annotations[0].text if fig.layout.annotations else ""
            skipped.append(html.Li(f"{fig.layout.title.text}: {msg}"))
            continue
        wide = name in ("slice", "methods", "parallel", "importance", "temperature_alpha")
        shown.append(html.Div(dcc.Graph(figure=fig, id=f"fig-{name}"),
                              style={"gridColumn": "1 / span 2"} if wide else {}))
    out: list[Any] = [html.Div(shown, style={"display": "grid",
                                              "gridTemplateColumns": "1fr 1fr"})]
    if skipped:
        out.append(html.Div([html.H4("not shown"), html.Ul(skipped)],
                            style={"color": "#777"}))
    return out


def _ids(selected: list[dict] | None) -> list[int] | None:
    return [int(r["id"]) for r in selected or [] if "id" in r] or None


# What the callbacks would import lazily, each on its own request thread: optuna.importance
# pulls in scikit-learn, SciPy and pandas on the first figures callback, the confirmed table
# SciPy, a launch's check the search strategies, a download the export bundle.
CALLBACK_IMPORTS = ("pandas", "scipy.stats", "optuna.importance", "plotly.subplots",
                    "plotly.express", "kd_automl.search.strategy", "kd_automl.export.bundle")


def import_callback_dependencies() -> None:
    """Import, once and on this thread, what the callbacks need. Two callback threads that
    import one module at once see it half initialised (the first page load once failed with
    ``partially initialized module 'pandas' has no attribute 'Series'``)."""
    import importlib

    import plotly.graph_objects as go

    for name in CALLBACK_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError as err:  # an optional one: its callback says so when asked
            log.debug("not preloaded: %s (%s)", name, err)
    # plotly builds its validators on first use of each trace type: build them here too
    go.Figure([go.Scatter(x=[0], y=[0]), go.Scattergl(x=[0], y=[0]), go.Box(y=[0]),
               go.Heatmap(z=[[0]]), go.Parcoords(dimensions=[{"values": [0]}])]).to_json()


def create_app(store: Store, refresh_s: float = 5.0, launch: Any = None) -> Dash:
    """The dashboard over ``store`` (open it with :meth:`Store.open_read_only`); with
    ``launch`` (a :class:`~kd_automl.dashboard.launch_page.LaunchSettings`), also the launch
    form and the runs panel. What its callbacks import is imported before it serves."""
    import_callback_dependencies()
    data = DashboardData(store)
    app = Dash(__name__, title="kd-automl dashboard", update_title=None)
    add_download_routes(app.server, data)
    app.layout = layout(store.display_url, refresh_s)
    from kd_automl.dashboard.launch_page import add_launch_page, refuse_launch_routes

    if launch is not None:
        add_launch_page(app, data, launch)
    else:
        refuse_launch_routes(app)

    @app.callback(Output("version", "data"), Output("status", "children"),
                  Input("tick", "n_intervals"), State("version", "data"))
    def _poll(_n: int, seen: str | None):
        try:
            v = data.version()
        except Exception as err:  # the database went away: say so, keep serving
            return no_update, f"cannot read the database: {str(err).splitlines()[0]}"
        status = f"checked {datetime.now():%H:%M:%S}"
        return (no_update if v == seen else v), status

    @app.callback(Output("experiments", "rowData"), Input("version", "data"))
    def _experiments(_v: str | None):
        return data.experiment_rows()

    @app.callback(Output("leaderboard", "rowData"), Input("version", "data"),
                  Input("experiments", "selectedRows"), Input("states", "value"),
                  Input("best-only", "value"))
    def _leaderboard(_v, selected, states, best):
        return data.leaderboard_rows(_ids(selected), states, bool(best))

    @app.callback(Output("trial-panel", "children"), Input("leaderboard", "cellClicked"),
                  Input("version", "data"), prevent_initial_call=True)
    def _trial(clicked: dict | None, _v):
        if not clicked or clicked.get("rowId") is None:
            return no_update
        return _trial_panel(data, int(clicked["rowId"]))

    @app.callback(Output("figures", "children"), Input("version", "data"),
                  Input("experiments", "selectedRows"))
    def _figs(_v, selected):
        return _figures(data, _ids(selected))

    return app
