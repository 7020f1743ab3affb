"""How a trial tells its orchestrator about progress. Raising TrialPruned stops it."""

from __future__ import annotations

from typing import Protocol

from kd_automl.results import TrialResult


class Reporter(Protocol):
    def report_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Called after every epoch; may raise :class:`kd_automl.errors.TrialPruned`."""

    def report_final(self, result: TrialResult) -> None:
        """Called once when the trial ends, whatever its status."""


class NullReporter:
    """Reports nowhere."""

    def report_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def report_final(self, result: TrialResult) -> None:
        pass
