"""Trial entry points that an orchestrator launches as a process (``python -m ...``)."""
