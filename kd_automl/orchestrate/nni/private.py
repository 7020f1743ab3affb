"""Keeping NNI's secret URL prefix to its user.

NNI puts ``--url-prefix`` on its Node.js manager's command line (readable by every local
user in ``/proc/*/cmdline``) and writes it into logs and its registry. kd-automl starts the
manager without it: the preloaded guard (``guard.js``) reads the prefix from the inherited
environment and hands it to NNI inside the process. NNI's processes run with umask 077, and
NNI's home is made private (folders 0700, files without group/other access).
"""

from __future__ import annotations

import copy
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def make_private(home: Path) -> None:
    """``home`` and everything in it: folders 0700, files with no group/other access."""
    for path in [home, *home.rglob("*")]:
        try:
            if path.is_symlink():
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            private = 0o700 if path.is_dir() else mode & 0o700
            if mode != private:
                path.chmod(private)
        except OSError:  # a file NNI removed meanwhile, or one that is not ours
            continue


MANAGER_WAIT_S = 30  # seconds NNI's manager may take to answer its first request


def _say_waiting() -> None:
    log.warning("waiting for NNI's manager ...")


@contextmanager
def private_launch(on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """While NNI starts its manager: umask 077, no ``--url-prefix`` on its command line, and
    up to ``MANAGER_WAIT_S`` for the manager to answer (NNI 3.0 gives it 3 s, which a busy
    machine's Node start exceeds: "connection refused" and a failed start). A manager that
    does not answer at once calls ``on_wait`` once (default: one logged line), in place of
    NNI's "Timeout, retry..." every second."""
    from nni.experiment import launcher, rest

    original, original_check = launcher._start_rest_server, launcher._check_rest_server

    def start(args, run_mode):
        hidden = copy.copy(args)
        hidden.url_prefix = None  # the guard passes it on from KD_AUTOML_NNI_PREFIX
        return original(hidden, run_mode)

    def check(port, retry=3, url_prefix=None):
        for attempt in range(max(retry, MANAGER_WAIT_S)):
            try:
                rest.get(port, "/check-status", url_prefix)
                return
            except Exception:
                if attempt == 0:
                    (on_wait or _say_waiting)()
            time.sleep(1)
        rest.get(port, "/check-status", url_prefix)  # NNI's own error when it never answered

    old_umask = os.umask(0o077)
    launcher._start_rest_server, launcher._check_rest_server = start, check
    try:
        yield
    finally:
        launcher._start_rest_server, launcher._check_rest_server = original, original_check
        os.umask(old_umask)
