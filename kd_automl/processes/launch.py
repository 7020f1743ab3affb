"""The process of one launch: ``python -m kd_automl.processes.launch FOLDER`` runs
the ``kd-automl`` command kept in ``FOLDER/launch.json`` (the CLI's own code path, so Ctrl-C,
SIGINT and SIGTERM stop it as they stop the command) and writes ``FOLDER/exit.json``.

The arguments come from the file, not this command line, which every user can read
(``/proc/*/cmdline``) and which would otherwise carry the database URL. The web UI's secret
prefix that ``nni start`` prints is masked in the log.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path

from kd_automl.orchestrate.launches.state import EXIT_FILE, load, utcnow, write_private
from kd_automl.orchestrate.signals import exit_code, install

_SECRET_URL = re.compile(r"(https?://[^/\s]+/)[\w-]{16,}/")


class _Masking(io.TextIOBase):
    """A text stream that writes through, with URL secret prefixes masked."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, s: str) -> int:
        self.stream.write(_SECRET_URL.sub(r"\1<secret prefix>/", s))
        return len(s)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()


def run(folder: Path) -> int:
    """Run the launch kept in ``folder``; returns (and records) its exit code."""
    rec = load(folder)
    os.environ["KD_AUTOML_LAUNCH"] = folder.name  # what the command says after a stop
    sys.stdout = _Masking(sys.stdout)
    install()  # SIGTERM and SIGHUP stop it as Ctrl-C does, even before the search starts
    code: int = 1
    try:
        from kd_automl.cli import main

        main(rec.argv)
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt as err:
        code = exit_code(err)
    finally:
        sys.stdout.flush()
        write_private(folder / EXIT_FILE, json.dumps({"code": code,
                                                      "finished_at": utcnow().isoformat()}))
    return code


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
