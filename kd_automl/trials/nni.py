"""NNI's trial command: ``python -m kd_automl.trials.nni --spec ... --db ...``.

Warm when the experiment has a trial server (:mod:`kd_automl.trials.warm_client`: the trial
runs in a child forked by a process that imported torch and the engine once); otherwise the
trial runs here, cold (:mod:`kd_automl.trials.nni_trial`). Light until then: without NNI it
says in one line how to install it.
"""

from __future__ import annotations

import os
import sys

from kd_automl.extras import NNI_MISSING, nni_installed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not nni_installed():
        sys.exit(NNI_MISSING)
    if not {"-h", "--help"} & set(argv):
        from kd_automl.trials.warm_client import run_warm

        code = run_warm(argv)
        if code is not None:
            return code
    from kd_automl.trials.nni_trial import main as cold

    return cold(argv)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
