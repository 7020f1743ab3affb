"""The runs panel (``--allow-launch``): running and recent launches with their progress from
the store, Stop, and links to their leaderboard, trials, report, log and NNI's web UI."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dash import ALL, Dash, Input, Output, Patch, State, ctx, html, no_update
from flask import Response
from plotly.utils import PlotlyJSONEncoder

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


LIVE = ("done", "running", "best %", "elapsed", "ETA")  # change while a launch runs


def _live(data: DashboardData, s: launches.LaunchStatus) -> dict[str, str]:
    """The cells that change while a launch runs: progress from the store."""
    p = None
    if s.experiment:
        try:
            p = launches.progress(data.store, s)
        except Exception:  # the store went away: the row still shows the process's state
            p = None
    if p is None:
        return dict.fromkeys(LIVE, "–")
    return {"done": p.done_text,
            "running": str(p.running),
            "best %": f"{100 * p.best:.2f}" if p.best is not None else "–",
            "elapsed": duration_text(p.elapsed_s), "ETA": duration_text(p.eta_s)}


def _row(ws: Workspace, s: launches.LaunchStatus, live: dict[str, str]) -> html.Tr:
    cells = {
        "launch": s.id, "backend": s.record.backend, "experiment": s.experiment or "–",
        "state": s.state if s.exit_code in (None, 0) else f"{s.state} (exit {s.exit_code})",
    }
    tds = [html.Td(v, style=_CELL, **{"data-col": k}) for k, v in cells.items()]
    tds += [html.Td(live[k], style=_CELL, id={"type": "run-cell", "launch": s.id, "col": k},
                    **{"data-col": k}) for k in LIVE]
    tds.append(html.Td(_links(ws, s), style=_CELL, **{"data-col": "open"}))
    stop = (html.Button("Stop", id={"type": "run-stop", "launch": s.id})
            if s.active or s.serving else "")
    tds.append(html.Td(stop, style=_CELL, **{"data-col": "stop"}))
    return html.Tr(tds, className="run-row", **{"data-launch": s.id, "data-state": s.state})


def _head() -> html.Tr:
    return html.Tr([html.Th(c, style={**_CELL, "background": "#f4f4f4", "textAlign": "left"})
                    for c in COLUMNS])


def _digest(component: Any) -> str:
    return hashlib.sha256(json.dumps(component, cls=PlotlyJSONEncoder).encode()).hexdigest()


def register(app: Dash, ws: Workspace, data: DashboardData) -> None:
    """The panel's callbacks and its two routes (a launch's report and log)."""

    @app.callback(Output("runs-table", "children"), Output("runs-shown", "data"),
                  Output({"type": "run-cell", "launch": ALL, "col": ALL}, "children"),
                  Input("tick", "n_intervals"), Input("runs-version", "data"),
                  State("runs-shown", "data"))
    def _runs(_n, _v, shown):
        """A row is rebuilt only when its state, links or Stop button change, the table only
        when launches come or go (a click may be on them); progress changes only the text
        of its cells."""
        statuses = launches.statuses(ws)[:RECENT]
        rows = [(s, _live(data, s)) for s in statuses]
        ids = [s.id for s in statuses]
        skeletons = [_digest(_row(ws, s, dict.fromkeys(LIVE, ""))) for s in statuses]
        cells = ctx.outputs_list[2]
        now = {"ids": ids, "rows": skeletons}
        if not rows:
            empty = html.Tr(html.Td("no launches yet", style={"color": "#777"}))
            return ([empty], now, []) if shown != now else (no_update, no_update, [])
        if not shown or shown.get("ids") != ids:
            return [_head(), *[_row(ws, s, live) for s, live in rows]], now, \
                [no_update] * len(cells)
        patch, rebuilt = Patch(), set()
        for i, ((s, live), old, new) in enumerate(zip(rows, shown["rows"], skeletons,
                                                      strict=True)):
            if old != new:
                patch[i + 1] = _row(ws, s, live)
                rebuilt.add(s.id)
        by_launch = {s.id: live for s, live in rows}
        values = [no_update if c["id"]["launch"] in rebuilt
                  else by_launch.get(c["id"]["launch"], {}).get(c["id"]["col"], no_update)
                  for c in cells]
        return (patch if rebuilt else no_update), (now if rebuilt else no_update), values

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
