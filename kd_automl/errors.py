"""The one exception type for mistakes a user can make and fix."""

from __future__ import annotations


class KDAutoMLError(Exception):
    """A problem the user caused and can fix (bad spec, unknown model, unreachable database...).

    The CLI prints the message without a traceback and exits non-zero.
    """


class TrialPruned(Exception):
    """Raised by a reporter when the orchestrator decides to stop a trial early."""


class TrialDiverged(RuntimeError):
    """Raised by the engine when a loss becomes NaN or infinite."""
