"""What ``--allow-launch`` adds to the dashboard: the launch form and the runs panel, at the
top of the page. Without the flag none of it (layout, callbacks, routes) exists."""

from __future__ import annotations

from dataclasses import dataclass

from dash import Dash, dcc, html
from flask import Response

from kd_automl.dashboard.data import DashboardData
from kd_automl.dashboard.launch_form import form
from kd_automl.dashboard.launch_form import register as register_form
from kd_automl.dashboard.runs_panel import register as register_runs
from kd_automl.workspace import Workspace


@dataclass(frozen=True)
class LaunchSettings:
    """Where launches run: their workspace (state, logs) and the store they write."""

    workspace: Workspace
    db_url: str


def _section(title: str, *children, id: str) -> html.Section:
    return html.Section([html.H2(title, style={"fontSize": "1.2em"}), *children],
                        style={"margin": "1.5em 0"}, id=id)


def add_launch_page(app: Dash, data: DashboardData, settings: LaunchSettings) -> None:
    """Put the form and the runs panel into ``app``'s layout and register their callbacks."""
    ws = settings.workspace
    sections = [
        _section("Launch a search", form(ws), id="launch-section"),
        _section("Runs", dcc.Store(id="runs-version"), dcc.Store(id="runs-shown"),
                 html.Div(id="run-message"),
                 html.Table(id="runs-table", style={"borderCollapse": "collapse"}),
                 id="runs-section"),
    ]
    children = list(app.layout.children)
    app.layout.children = [*children[:2], *sections, *children[2:]]  # after the title lines
    register_form(app, ws, settings.db_url)
    register_runs(app, ws, data)


def refuse_launch_routes(app: Dash) -> None:
    """Without ``--allow-launch``: a launch's routes answer 404 (not the page Dash serves for
    any other path), and no launch callback exists (a request for one is a 400)."""

    @app.server.route("/launches/<path:_rest>")
    def _refused(_rest: str):
        return Response("launching is off: start the dashboard with --allow-launch\n",
                        status=404, mimetype="text/plain")
