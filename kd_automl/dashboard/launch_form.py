"""The launch form (``kd-automl dashboard --allow-launch``): a ready, workspace or pasted
spec, checked on every edit with ``kd-automl check``'s messages beside the lines they name,
its searched fields, and the backend's options. Launching calls
:func:`kd_automl.orchestrate.launches.start`."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate import launches
from kd_automl.ready_specs import ready_spec, ready_spec_names
from kd_automl.spec_check import SpecCheck, check_text, search_ranges
from kd_automl.workspace import Workspace

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_MONO = {"fontFamily": "ui-monospace, monospace", "fontSize": "13px"}
_CELL = {"padding": "0 8px", "verticalAlign": "top"}
_ROW = {"display": "flex", "gap": "1em", "flexWrap": "wrap", "alignItems": "center",
        "margin": "0.4em 0"}


def workspace_specs(ws: Workspace) -> list[Path]:
    """Spec files in the workspace's top folder and its ``specs/`` folder."""
    found = []
    for folder in (ws.root, ws.root / "specs"):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir()
                            if p.suffix in SPEC_SUFFIXES and p.is_file())
    return found


def _choices(ws: Workspace) -> list[dict[str, str]]:
    return ([{"label": f"ready: {n}", "value": f"ready:{n}"} for n in ready_spec_names()]
            + [{"label": f"workspace: {p.relative_to(ws.root)}",
                "value": f"ws:{p.relative_to(ws.root)}"} for p in workspace_specs(ws)])


def _chosen_file(ws: Workspace, choice: str) -> Path | None:
    kind, _, name = choice.partition(":")
    if kind == "ready":
        return ready_spec(name)
    if kind == "ws":
        return next((p for p in workspace_specs(ws) if str(p.relative_to(ws.root)) == name),
                    None)
    return None


def _number(id: str, value: int | None, label: str, **kw: Any) -> html.Label:
    return html.Label([label, dcc.Input(id=id, type="number", value=value, min=1, step=1,
                                        style={"width": "5em", "marginLeft": "0.4em"}, **kw)])


def _text(id: str, label: str, placeholder: str, width: str = "9em") -> html.Label:
    return html.Label([label, dcc.Input(id=id, type="text", placeholder=placeholder,
                                        style={"width": width, "marginLeft": "0.4em"})])


def form(ws: Workspace) -> html.Div:
    """The form's components."""
    from kd_automl.extras import NNI_MISSING, nni_installed
    from kd_automl.orchestrate.nni import ASSESSORS, TUNERS

    nni = ({"label": " NNI", "value": "nni"} if nni_installed() else  # one line: how to add it
           {"label": f" NNI ({NNI_MISSING})", "value": "nni", "disabled": True})
    return html.Div([
        html.Div([
            dcc.Dropdown(id="spec-choice", options=_choices(ws), placeholder="a ready or "
                         "workspace spec (or paste YAML below)", style={"width": "32em"}),
        ], style=_ROW),
        html.Div([
            dcc.Textarea(id="spec-text", value="", placeholder="paste a spec (YAML or JSON)",
                         spellCheck=False, style={**_MONO, "width": "100%", "height": "22em"}),
            html.Div([html.Div(id="spec-status", style={"margin": "0.3em 0"}),
                      html.Div(id="spec-lines", style={"maxHeight": "30em", "overflow": "auto"}),
                      html.H4("searched fields", style={"margin": "0.6em 0 0.2em"}),
                      html.Div(id="spec-search")]),
        ], style={"display": "grid", "gridTemplateColumns": "minmax(20em, 1fr) 1.4fr",
                  "gap": "1.5em"}),
        dcc.Store(id="spec-source"),
        html.Div([
            dcc.RadioItems(id="launch-backend", value="optuna", inline=True,
                           options=[{"label": " Optuna", "value": "optuna"}, nni],
                           labelStyle={"marginRight": "1em"}),
            _number("launch-trials", 16, "trials"),
            _text("launch-gpus", "GPUs", "e.g. 0,1", "6em"),
        ], style=_ROW),
        html.Div(id="optuna-options", children=[
            _number("launch-workers", 1, "workers"), _number("launch-fuse", None, "fuse",
                                                             placeholder="spec's"),
            _text("launch-study", "study", "the spec's name", "14em"),
        ], style=_ROW),
        html.Div(id="nni-options", children=[
            html.Label(["tuner", dcc.Dropdown(id="launch-tuner", options=list(TUNERS),
                                              value="TPE", clearable=False,
                                              style={"width": "10em"})]),
            html.Label(["assessor", dcc.Dropdown(id="launch-assessor", options=list(ASSESSORS),
                                                 value="none", clearable=False,
                                                 style={"width": "10em"})]),
            _number("launch-concurrency", 1, "concurrency"),
            _number("launch-port", None, "web UI port", placeholder="free"),
            _text("launch-duration", "max duration", "e.g. 2h", "6em"),
        ], style={**_ROW, "display": "none"}),
        html.Div([html.Button("Launch", id="launch-button", disabled=True),
                  html.Div(id="launch-message", style={"whiteSpace": "pre-wrap"})],
                 style=_ROW),
    ])


def _lines_view(text: str, checked: SpecCheck) -> html.Table:
    """The spec line by line, each problem beside the line of the field it names."""
    by_line: dict[int, list] = defaultdict(list)
    for p in checked.problems:
        by_line[p.line or 0].append(p)
    rows = []
    for i, line in enumerate(text.splitlines() or [""]):
        problems = by_line.get(i, [])
        rows.append(html.Tr([
            html.Td(str(i + 1), style={**_CELL, "color": "#999", "textAlign": "right"}),
            html.Td(html.Pre(line, style={**_MONO, "margin": 0}), style=_CELL),
            html.Td([html.Div(p.message, className="spec-problem",
                              style={"color": "#b00", "whiteSpace": "pre-wrap", **_MONO},
                              **{"data-field": p.field or "", "data-line": str(i)})
                     for p in problems], style=_CELL),
        ], className="spec-line", style={"background": "#fff4f4"} if problems else {}))
    return html.Table(rows, style={"borderCollapse": "collapse"})


def _search_view(search: dict[str, Any]) -> html.Table | html.P:
    rows = search_ranges(search)
    if not rows:
        return html.P("none", style={"color": "#777"})
    head = html.Tr([html.Th(h, style={**_CELL, "textAlign": "left"})
                    for h in ("field", "type", "range")])
    return html.Table([head, *[html.Tr([html.Td(c, style={**_CELL, **_MONO}) for c in r])
                               for r in rows]], id="spec-search-table")


def _status_line(checked: SpecCheck, source: str) -> html.Span:
    if checked.spec is None:
        n = len(checked.problems)
        return html.Span(f"{n} problem{'s' * (n != 1)}: see the lines marked in red",
                         style={"color": "#b00"}, id="spec-verdict")
    s = checked.spec
    from kd_automl.search.strategy import notes

    text = (f"ok {source}: experiment {s.name!r}, method {s.method.name}, {len(s.search)} "
            f"searched field(s): {', '.join(s.search) or 'none'}")
    return html.Span([text, *[html.Div(f"note: {n}") for n in notes(s)]],
                     style={"color": "#070"}, id="spec-verdict")


def register(app: Dash, ws: Workspace, db_url: str) -> None:
    """The form's callbacks; a launch bumps ``runs-version`` for the runs panel."""

    @app.callback(Output("spec-text", "value"), Output("spec-source", "data"),
                  Input("spec-choice", "value"), prevent_initial_call=True)
    def _choose(choice: str | None):
        path = _chosen_file(ws, choice) if choice else None
        if path is None:
            return no_update, None
        text = path.read_text()
        return text, {"path": str(path), "text": text}

    @app.callback(Output("spec-status", "children"), Output("spec-lines", "children"),
                  Output("spec-search", "children"), Output("launch-button", "disabled"),
                  Input("spec-text", "value"), State("spec-source", "data"))
    def _check(text: str | None, chosen: dict | None):
        text = text or ""
        if not text.strip():
            return html.Span("choose or paste a spec", style={"color": "#777"}), [], [], True
        same = chosen and chosen.get("text") == text
        source = chosen["path"] if same else "pasted spec"
        checked = check_text(text, source)
        return (_status_line(checked, source), _lines_view(text, checked),
                _search_view(checked.search), checked.spec is None)

    @app.callback(Output("optuna-options", "style"), Output("nni-options", "style"),
                  Input("launch-backend", "value"))
    def _backend(backend: str):
        hidden = {**_ROW, "display": "none"}
        return (_ROW, hidden) if backend == "optuna" else (hidden, _ROW)

    @app.callback(Output("launch-message", "children"),
                  Output("runs-version", "data", allow_duplicate=True),
                  Input("launch-button", "n_clicks"),
                  State("spec-text", "value"), State("spec-source", "data"),
                  State("launch-backend", "value"), State("launch-trials", "value"),
                  State("launch-gpus", "value"), State("launch-workers", "value"),
                  State("launch-fuse", "value"), State("launch-study", "value"),
                  State("launch-tuner", "value"), State("launch-assessor", "value"),
                  State("launch-concurrency", "value"), State("launch-port", "value"),
                  State("launch-duration", "value"), prevent_initial_call=True)
    def _launch(clicks, text, chosen, backend, trials, gpus, workers, fuse, study, tuner,
                assessor, concurrency, port, duration):
        if not clicks:
            return no_update, no_update
        same = chosen and chosen.get("text") == text
        request = launches.LaunchRequest(
            backend=str(backend), spec_text=text or "",
            source=chosen["path"] if same else "pasted spec", trials=trials,
            gpus=gpus or None, workers=workers, fuse=fuse or None, study=study or None,
            tuner=str(tuner), assessor=str(assessor), concurrency=concurrency,
            port=port or None, max_duration=duration or None)
        try:
            rec = launches.start(ws, db_url, request)
        except KDAutoMLError as err:
            return html.Span(f"not launched: {err}", style={"color": "#b00"},
                             id="launch-error"), no_update
        return (html.Span(f"launched {rec.id} ({rec.backend}, {rec.trials} trials)",
                          style={"color": "#070"}, id="launch-ok"), rec.id)
