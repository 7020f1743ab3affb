"""The read-only web dashboard (Dash): experiments of both backends, the leaderboard,
one trial's details and the analysis figures, refreshed while a search runs."""

from kd_automl.dashboard.app import create_app
from kd_automl.dashboard.server import DashboardServer, serve

__all__ = ["DashboardServer", "create_app", "serve"]
