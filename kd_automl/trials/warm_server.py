"""An NNI experiment's warm trial server: torch, the engine and the data set's reader imported
once, one forked child per trial.

``python -m kd_automl.trials.warm_server --socket PATH --watch PID [--dataset NAME]``, started
by :mod:`kd_automl.orchestrate.nni.trial_server` with the experiment. It binds the socket
first (clients that come while it imports wait in the backlog), imports, then serves until
the watched process (the launch, then NNI's manager) is gone. Each connection is one trial
(:mod:`kd_automl.trials.warm_client`): the child takes the client's environment, working
folder, arguments and stdin/stdout/stderr and runs :func:`kd_automl.trials.nni_trial.main`
as a fresh process would. NNI is imported here too; it reads its trial's environment at
import, so each child reads it again once its environment is in place
(:mod:`kd_automl.trials.nni_state`). Before the first trial of a spec, the server reads what
such a trial reads first (:func:`kd_automl.trials.nni_trial.warm_up`: the data set, the cached
teacher...), so its children find it in memory. The server stays one thread and runs torch
on one thread only, so a child starts with no thread pool to inherit and sets its own
threads; it hears a child's end at once (a pidfd per child).

A client that goes away (NNI killed it) takes its child with it (SIGKILL to the child's
process group); the children die with the server (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import importlib
import os
import selectors
import signal
import socket
import sys
import time
import traceback
import weakref
from pathlib import Path
from typing import Any

from kd_automl.trial_wire import Reader, send

# what a trial imports, NNI and its dependencies (each child makes NNI its trial's:
# nni_state), and the data set's reader by its name (``--dataset``)
PRELOAD = ["torch", "torch._dynamo", "kd_automl.orchestrate.recording",
           "kd_automl.orchestrate.runner", "kd_automl.orchestrate.threads", "kd_automl.store",
           "kd_automl.distill.all_methods", "kd_automl.models.all_models", "kd_automl.data",
           "kd_automl.engine.trial", "kd_automl.engine.teacher", "numpy", "scipy.stats",
           "pandas", "json_tricks",
           "typeguard", "requests", "psutil", "yaml", "colorama", "cloudpickle", "nni",
           "kd_automl.trials.nni_state", "kd_automl.trials.nni_trial"]
STOP_WAIT_S = 10.0  # how long trials still running when the experiment ends get to close
PR_SET_PDEATHSIG = 1


class _Trial:
    def __init__(self, sock: socket.socket):
        self.sock, self.reader, self.pid = sock, Reader(sock), None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _log(line: str) -> None:
    now = time.time()  # milliseconds: a warm trial's steps take tens of them
    print(f"{time.strftime('%H:%M:%S', time.localtime(now))}.{int(now * 1000) % 1000:03d} {line}",
          file=sys.stderr, flush=True)


def preload(modules: list[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except (Exception, SystemExit) as err:  # missing: the trial imports it itself
            _log(f"preload {name}: {type(err).__name__}: {err}")


def _readers(dataset: str) -> list[str]:
    """What the first trial on ``dataset`` would import (the workers' fork server's list)."""
    try:
        from kd_automl.orchestrate.workers import PRELOAD_FOR
    except Exception as err:  # the trials import it themselves
        _log(f"preload of the {dataset} reader: {type(err).__name__}: {err}")
        return []
    return PRELOAD_FOR.get(dataset, [])


_torch_threads: list[int] = []  # torch's default in a fresh process, before the server's 1


def one_thread() -> None:
    """Torch on one thread in the server: what it loads starts no thread pool that its
    children would inherit dead; each child sets a fresh process's default again."""
    import torch

    _torch_threads.append(torch.get_num_threads())
    torch.set_num_threads(1)


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+: the 0.2 s select timeout reaps it
        return None


class Server:
    def __init__(self, listener: socket.socket, watch: int):
        self.listener, self.watch = listener, watch
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ)
        self.trials: dict[socket.socket, _Trial] = {}
        self.children: dict[int, _Trial] = {}
        self.pidfds: dict[int, int] = {}  # child pid -> its pidfd, readable once it ended
        self.warmed: set[tuple[str, ...]] = set()

    def serve(self) -> None:
        while not _stop_asked:
            events = self.selector.select(0.2)
            for key, _ in events:
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj in self.trials:  # else a child's pidfd: reaped below
                    self._read(self.trials[key.fileobj])
            self._reap()
            if not events and not _alive(self.watch):  # what waited is read first: a watch
                break
        self._stop()

    def _accept(self) -> None:
        sock, _ = self.listener.accept()
        self.trials[sock] = _Trial(sock)
        self.selector.register(sock, selectors.EVENT_READ)

    def _close(self, trial: _Trial) -> None:
        self.selector.unregister(trial.sock)
        del self.trials[trial.sock]
        trial.sock.close()
        for fd in trial.reader.fds:
            os.close(fd)
        trial.reader.fds = []

    def _read(self, trial: _Trial) -> None:
        trial.reader.fill()
        for message in trial.reader.messages():
            op = message.get("op")
            if op == "trial" and trial.pid is None:
                self._fork(trial, message)
            elif op == "signal" and trial.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(trial.pid, int(message["signal"]))
            elif op == "stop":
                _stop_asked.append(0)
            elif op == "watch":
                self.watch = int(message["pid"])
                _log(f"following process {self.watch}")
        if trial.reader.closed:
            if trial.pid is not None and trial.pid in self.children:  # NNI killed the client
                _log(f"client of trial process {trial.pid} gone: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(trial.pid, signal.SIGKILL)
            self._close(trial)

    def _warm(self, argv: list[str]) -> None:
        """Read what a trial of ``argv`` reads first, once per spec, store and workspace."""
        key = tuple(argv)
        if key in self.warmed:
            return
        self.warmed.add(key)
        from kd_automl.trials.nni_trial import warm_up

        t0 = time.monotonic()
        failed = warm_up(argv)
        _log(f"warmed up in {time.monotonic() - t0:.1f} s"
             + (f" (left to the trials: {'; '.join(failed)})" if failed else ""))

    def _fork(self, trial: _Trial, message: dict[str, Any]) -> None:
        try:
            self._warm(list(message["argv"]))
        except Exception as err:  # the trial reads it all itself
            _log(f"warm-up: {type(err).__name__}: {err}")
        fds, trial.reader.fds = trial.reader.fds, []
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                self.selector.close()
                self.listener.close()
                for sock in self.trials:
                    sock.close()
                for fd in self.pidfds.values():
                    os.close(fd)
                _run_trial(message, fds)
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        trial.pid = pid
        self.children[pid] = trial
        pidfd = _open_pidfd(pid)
        if pidfd is not None:
            self.pidfds[pid] = pidfd
            self.selector.register(pidfd, selectors.EVENT_READ)
        _log(f"trial process {pid} started")
        with contextlib.suppress(OSError):
            send(trial.sock, {"pid": pid})

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            trial = self.children.pop(pid, None)
            if (pidfd := self.pidfds.pop(pid, None)) is not None:
                self.selector.unregister(pidfd)
                os.close(pidfd)
            code = os.waitstatus_to_exitcode(status)
            _log(f"trial process {pid} ended: {code}")
            if trial is not None and trial.sock in self.trials:
                with contextlib.suppress(OSError):
                    send(trial.sock, {"exit": code} if code >= 0 else {"signal": -code})
                self._close(trial)

    def _stop(self) -> None:
        """The experiment ended: no new trials; the running ones get ``STOP_WAIT_S``."""
        _log("stopping")
        self.selector.unregister(self.listener)
        self.listener.close()
        deadline = time.monotonic() + STOP_WAIT_S
        while self.children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.1)
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        while self.children:
            self._reap()
            time.sleep(0.05)
        for trial in list(self.trials.values()):
            self._close(trial)


def _exit_code(err: SystemExit) -> int:
    if err.code is None or isinstance(err.code, int):
        return err.code or 0
    print(err.code, file=sys.stderr)
    return 1


def _drop_inherited_finalizers() -> None:
    """Leave the server's ``weakref.finalize`` hooks to the process's end.

    The child inherits the finalizers of every module the server imported: torch's
    ``Library`` objects alone register 176, whose ``atexit`` run costs 0.13-0.16 s a trial.
    The child ends with ``os._exit``, so the kernel frees what they would free; the
    finalizers the trial itself registers (temporary folders, pools) still run.
    """
    registry = getattr(weakref.finalize, "_registry", {})  # CPython's; absent: keep all
    for finalizer in list(registry):  # its keys are the finalizers
        with contextlib.suppress(Exception):
            finalizer.atexit = False


def _run_trial(message: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the trial's process, run it, end as it ended."""
    os.setpgid(0, 0)
    with contextlib.suppress(Exception):  # Linux: die with the server
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _drop_inherited_finalizers()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(s, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(message["env"])
    os.umask(int(message.get("umask", 0o077)))
    os.chdir(message["cwd"])
    sys.argv = [sys.argv[0], *message["argv"]]
    sys.path[0] = message["cwd"]  # as ``python -m`` would
    interrupted = False
    try:
        import torch

        threads = os.environ.get("OMP_NUM_THREADS", "")
        if threads.isdigit() and int(threads) > 0:  # torch read it at its import: the server's
            torch.set_num_threads(int(threads))
        elif _torch_threads:
            torch.set_num_threads(_torch_threads[0])
        from kd_automl.trials.nni_state import reset

        reset()  # NNI read the server's environment at its import: now the trial's
        from kd_automl.trials.nni_trial import main

        code = main(message["argv"])
    except SystemExit as err:
        code = _exit_code(err)
    except KeyboardInterrupt:
        traceback.print_exc()
        code, interrupted = 1, True
    except BaseException:
        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if interrupted:  # as Python ends on an uncaught Ctrl-C: by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


_stop_asked: list[int] = []  # the signal that asked the server to stop


def _ask_stop(signum, frame) -> None:
    _stop_asked.append(signum)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True, type=Path)
    ap.add_argument("--watch", required=True, type=int, help="serve while this process runs")
    ap.add_argument("--dataset", default="", help="the data set whose reader to import")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _ask_stop)
    signal.signal(signal.SIGINT, _ask_stop)
    os.umask(0o077)  # what it writes is its user's alone, the socket included
    with contextlib.suppress(FileNotFoundError):
        args.socket.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(args.socket))
    listener.listen(64)
    _log(f"listening on {args.socket}; importing")
    t0 = time.monotonic()
    preload(PRELOAD + _readers(args.dataset))
    one_thread()
    _log(f"ready in {time.monotonic() - t0:.1f} s ({len(os.listdir('/proc/self/task'))} thread(s))")
    try:
        Server(listener, args.watch).serve()
    finally:
        with contextlib.suppress(FileNotFoundError):
            args.socket.unlink()
        _log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
