"""The runs panel (``--allow-launch``): running and recent launches with their progress from
the store, Stop, and links to their leaderboard, trials, report, log and NNI's web UI."""

from __future__ import annotations

from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update
from flask import Response

from kd_automl.dashboard.cell_diff import cell_key, plan_refresh
from kd_automl.dashboard.data import DashboardData
from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate import launches
from kd_automl.orchestrate.launches.progress import duration_text
from kd_automl.store.leaderboard import STATES
from kd_automl.workspace import Workspace

RECENT = 12  # launches shown
_CELL = {"border": "1px solid #ddd", "padding": "3px 8px", "fontSize": "13px"}
COLUMNS = ("launch", "backend", "experiment", "state", "done", "running", "best %",
           "elapsed", "ETA", "open", "")


def _links(ws: Workspace, s: launches.LaunchStatus) -> list[Any]:
    lid = s.id
    out: list[Any] = []
    if s.experiment:
        out += [html.A(view, href="#leaderboard-section", style={"marginRight": "0.6em"},
                       id={"type": "run-link", "launch": lid, "view": view})
                for view in ("leaderboard", "trials")]
        out.append(html.A("report", href=f"/launches/{lid}/report", target="_blank",
                          style={"marginRight": "0.6em"}))
    out.append(html.A("log", href=f"/launches/{lid}/log", target="_blank",
                      style={"marginRight": "0.6em"}))
    if s.serving:
        url = launches.nni_web_ui(ws, s.record)
        if url:
            out.append(html.A("NNI web UI", href=url, target="_blank", className="nni-web-ui"))
    return out


LIVE = ("experiment", "state", "done", "running", "best %", "elapsed", "ETA", "open")
_HIDDEN = {"display": "none"}


def _cells(ws: Workspace, data: DashboardData, s: launches.LaunchStatus) -> dict[str, Any]:
    """What a row shows that changes while a launch runs: state, progress, links."""
    p = None
    if s.experiment:
        try:
            p = launches.progress(data.store, s)
        except Exception:  # the store went away: the row still shows the process's state
            p = None
    cells: dict[str, Any] = {
        "experiment": s.experiment or "–",
        "state": s.state_text,
        "open": _links(ws, s)}
    if p is None:
        return {**cells, **dict.fromkeys(("done", "running", "best %", "elapsed", "ETA"), "–")}
    return {**cells, "done": p.done_text, "running": str(p.running),
            "best %": f"{100 * p.best:.2f}" if p.best is not None else "–",
            "elapsed": duration_text(p.elapsed_s), "ETA": duration_text(p.eta_s)}


def _stop_style(s: launches.LaunchStatus) -> dict[str, str]:
    return {} if s.active or s.serving else _HIDDEN


def _row(s: launches.LaunchStatus, cells: dict[str, Any]) -> html.Tr:
    tds = [html.Td(s.id, style=_CELL, **{"data-col": "launch"}),
           html.Td(s.record.backend, style=_CELL, **{"data-col": "backend"})]
    tds += [html.Td(cells[k], style=_CELL, id={"type": "run-cell", "launch": s.id, "col": k},
                    **{"data-col": k}) for k in LIVE]
    stop = html.Button("Stop", id={"type": "run-stop", "launch": s.id}, style=_stop_style(s))
    tds.append(html.Td(stop, style=_CELL, **{"data-col": "stop"}))
    return html.Tr(tds, className="run-row", **{"data-launch": s.id})


def _head() -> html.Tr:
    return html.Tr([html.Th(c, style={**_CELL, "background": "#f4f4f4", "textAlign": "left"})
                    for c in COLUMNS])


def register(app: Dash, ws: Workspace, data: DashboardData) -> None:
    """The panel's callbacks and its two routes (a launch's report and log)."""

    @app.callback(Output("runs-table", "children"), Output("runs-shown", "data"),
                  Output({"type": "run-cell", "launch": ALL, "col": ALL}, "children"),
                  Output({"type": "run-stop", "launch": ALL}, "style"),
                  Input("tick", "n_intervals"), Input("runs-version", "data"),
                  State("runs-shown", "data"))
    def _runs(_n, _v, shown):
        """The rows are rebuilt only when launches come or go; a refresh otherwise changes
        the cells' text and the Stop buttons' visibility in place, so the elements on the
        page (a Stop button under the pointer) stay the same."""
        statuses = launches.statuses(ws)[:RECENT]
        ids = [s.id for s in statuses]
        rows = {s.id: (s, _cells(ws, data, s)) for s in statuses}
        values = {cell_key(i, k): v for i in ids for k, v in rows[i][1].items()}
        values.update({cell_key(i, "stop"): _stop_style(rows[i][0]) for i in ids})
        cell_ids, stop_ids = ctx.outputs_list[2], ctx.outputs_list[3]
        asked = [cell_key(c["id"]["launch"], c["id"]["col"]) for c in cell_ids]
        asked += [cell_key(c["id"]["launch"], "stop") for c in stop_ids]
        plan = plan_refresh(shown, ids, values, asked)
        if plan.rebuild:
            table = ([_head(), *[_row(*rows[i]) for i in ids]] if ids else
                     [html.Tr(html.Td("no launches yet", style={"color": "#777"}))])
            return table, plan.shown, [no_update] * len(cell_ids), [no_update] * len(stop_ids)
        out = [values[k] if send else no_update for k, send in zip(asked, plan.send, strict=True)]
        cells, stops = out[:len(cell_ids)], out[len(cell_ids):]
        return no_update, no_update if plan.unchanged else plan.shown, cells, stops

    @app.callback(Output("run-message", "children"),
                  Output("runs-version", "data", allow_duplicate=True),
                  Input({"type": "run-stop", "launch": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def _stop(clicks):
        if not ctx.triggered_id or not any(clicks or []) or not ctx.triggered[0]["value"]:
            return no_update, no_update
        lid = ctx.triggered_id["launch"]
        try:
            now = launches.stop(ws, lid)
        except KDAutoMLError as err:
            return html.Span(str(err), style={"color": "#b00"}), no_update
        return f"stop sent to {lid} ({now.state})", f"stop-{lid}"

    @app.callback(Output("experiments", "selectedRows", allow_duplicate=True),
                  Output("states", "value", allow_duplicate=True),
                  Input({"type": "run-link", "launch": ALL, "view": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def _open(_clicks):
        if not ctx.triggered_id or not ctx.triggered[0]["value"]:
            return no_update, no_update
        name = launches.status(ws, ctx.triggered_id["launch"]).experiment
        rows = [r for r in data.experiment_rows() if r["experiment"] == name]
        states = ["complete"] if ctx.triggered_id["view"] == "leaderboard" else list(STATES)
        return rows, states

    server = app.server

    @server.route("/launches/<launch_id>/report")
    def _report(launch_id: str):
        from kd_automl.analysis import write_report

        try:
            s = launches.status(ws, launch_id)
            if not s.experiment:
                raise KDAutoMLError(f"launch {launch_id} has no experiment in the store yet")
            data.store.experiments([s.experiment], require=True)
            path = write_report(data.store, s.log_file.with_name("report.html"),
                                [s.experiment])
        except KDAutoMLError as err:
            return Response(f"{err}\n", status=404, mimetype="text/plain")
        return Response(path.read_text(), mimetype="text/html")

    @server.route("/launches/<launch_id>/log")
    def _log(launch_id: str):
        try:
            text = launches.status(ws, launch_id).log_file.read_text(errors="replace")
        except (KDAutoMLError, OSError) as err:
            return Response(f"{err}\n", status=404, mimetype="text/plain")
        return Response(text, mimetype="text/plain")
