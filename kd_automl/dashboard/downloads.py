"""The trial panel's downloads: a trial's kept student weights and its spec.yaml, the same
files ``kd-automl export`` writes (``/download/<trial id>/student.pt`` and ``spec.yaml``).

A file is served only when the store records it and its checksum still matches.
"""

from __future__ import annotations

from flask import Response, abort, send_file

from kd_automl.dashboard.data import DashboardData
from kd_automl.files import sha256_of

PREFIX = "/download"


def weights_url(trial_id: int) -> str:
    return f"{PREFIX}/{trial_id}/student.pt"


def spec_url(trial_id: int) -> str:
    return f"{PREFIX}/{trial_id}/spec.yaml"


def add_download_routes(server, data: DashboardData) -> None:
    """Register the two routes on the dashboard's Flask ``server``."""

    @server.route(f"{PREFIX}/<int:trial_id>/student.pt")
    def _weights(trial_id: int):
        t = data.trial(trial_id)
        w = None if t is None else t.weights
        if w is None or not w.path.is_file():
            abort(404, description="this trial kept no weights")
        if sha256_of(w.path) != w.sha256:
            abort(409, description="the weights file changed since it was recorded")
        name = f"{t.experiment.name}-trial{t.backend_trial_id}-student.pt"
        return send_file(w.path, mimetype="application/octet-stream", as_attachment=True,
                         download_name=name)

    @server.route(f"{PREFIX}/<int:trial_id>/spec.yaml")
    def _spec(trial_id: int):
        from kd_automl.errors import KDAutoMLError
        from kd_automl.export.bundle import spec_yaml, trial_spec

        t = data.trial(trial_id)
        if t is None or t.role not in ("search", "confirm", "final"):
            abort(404, description="no such trial")
        try:
            text = spec_yaml(trial_spec(t), t)
        except KDAutoMLError as err:
            abort(422, description=str(err))
        name = f"{t.experiment.name}-trial{t.backend_trial_id}-spec.yaml"
        return Response(text, mimetype="application/x-yaml",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
