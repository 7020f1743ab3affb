"""The process that stops a launched NNI experiment: ``python -m
kd_automl.processes.nni_stop FOLDER`` runs ``kd-automl nni stop ID`` for the launch
kept in ``FOLDER`` (the CLI's own code path). A process of its own because NNI's client points
``HOME`` at the workspace process-wide and stopping waits for the trials to end."""

from __future__ import annotations

import sys
from pathlib import Path

from kd_automl.orchestrate.launches.state import load


def run(folder: Path) -> int:
    rec = load(folder)
    if not rec.nni_id:
        print(f"launch {rec.id} has no NNI experiment to stop", file=sys.stderr)
        return 1
    from kd_automl.cli import main

    workspace = rec.argv[rec.argv.index("--workspace") + 1]
    try:
        main(["nni", "stop", rec.nni_id, "--workspace", workspace])
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
