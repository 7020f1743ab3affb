"""SIGTERM and SIGHUP behave like Ctrl-C; workers stop when their parent is gone.

A stop signal raises :class:`Stopped` (a ``KeyboardInterrupt``) in the main
thread, so code that closes its running trials on ``BaseException`` keeps working.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which (exit code ``128 + signum``)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(err: BaseException) -> int:
    return 128 + getattr(err, "signum", signal.SIGINT)


def _handler():
    fired: list[int] = []

    def handler(signum, frame):
        if fired:  # already stopping: let the cleanup finish
            return
        fired.append(signum)
        raise Stopped(signum)

    return handler


def install() -> None:
    """Make SIGINT/SIGTERM/SIGHUP raise :class:`Stopped` once in this process's main thread
    (later ones are ignored, so closing the running trials is not cut short)."""
    if threading.current_thread() is threading.main_thread():
        handler = _handler()
        for sig in STOP_SIGNALS:
            signal.signal(sig, handler)


@contextlib.contextmanager
def handled():
    """:func:`install` for the block, then the previous handlers again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    install()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def deferred():
    """Hold stop signals until the block ends (ask/tell must not be cut in half).

    Yields a list that holds the signals that arrived; the caller raises
    ``Stopped`` where it can clean up. Only the main thread can hold signals;
    elsewhere this does nothing.
    """
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
                for sig in STOP_SIGNALS}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def raise_held(caught: list[int]) -> None:
    if caught:
        raise Stopped(caught[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent(main_pid: int, poll_s: float = 1.0) -> None:
    """Send this process SIGTERM when its parent, or the run's main process, is gone."""
    with contextlib.suppress(Exception):  # Linux: the kernel signals us when the parent dies
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    parent = os.getppid()  # main itself, or the fork server that started us
    if parent == 1 or not _alive(main_pid):  # already gone before we could ask
        os.kill(os.getpid(), signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent and _alive(main_pid):
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="kd-parent-watch", daemon=True).start()
