"""May this process start one more trial? One answer shared by every worker of a study.

Workers take trials until the study holds the requested number of finished trials,
so a dead worker's share is run by the others. A trial counts as finished when it
completed, was pruned, or failed on its own (``fail_reason`` set); a trial that
was interrupted or lost its worker does not count (a lost one is retried).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import time
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from kd_automl.store.optuna_tables import state_counts


def is_finished(t: FrozenTrial) -> bool:
    return t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        t.state == TrialState.FAIL and "fail_reason" in t.user_attrs)


def finished_count(study: optuna.Study) -> int:
    return sum(is_finished(t) for t in study.get_trials(deepcopy=False))


def counts(study: optuna.Study) -> tuple[int, int]:
    """(finished, running) trials of ``study``: one query on an RDB storage, rather than
    reading every trial with its parameters, values and attributes."""
    rows = state_counts(study)
    if rows is None:
        trials = study.get_trials(deepcopy=False)
        return (sum(is_finished(t) for t in trials),
                sum(t.state == TrialState.RUNNING for t in trials))
    done = running = 0
    for state, n, failed_alone in rows:
        done += n if state in ("COMPLETE", "PRUNED") else failed_alone if state == "FAIL" else 0
        running += n if state == "RUNNING" else 0
    return done, running


class WorkQueue:
    """Grants trials until ``target`` finished trials are in the study.

    ``claim()`` holds a file lock (one per study, across processes) from the
    moment it grants a trial until that trial exists in the study: the queue's
    ``OptunaSource`` calls :meth:`asked` right after ``ask()``.
    A process may hold several claims at once (a fused group). ``lock``: an object with
    ``acquire()``/``release()`` used instead of the file (workers on several machines).
    """

    def __init__(self, study: optuna.Study, target: int, lock_path: Path | None = None,
                 reap: Callable[[optuna.Study], object] | None = None, poll_s: float = 1.0,
                 lock=None, reap_every_s: float = 0.0):
        self.study, self.target, self.reap, self.poll_s = study, target, reap, poll_s
        self.lock_path, self.lock = lock_path, lock
        self.reap_every_s, self._reaped = reap_every_s, -math.inf
        self._fd = None
        self._held = False
        self._pending = 0

    def claim(self, wait: bool = True) -> bool:
        """True: start one more trial. False: the requested trials are finished (or, while
        this process holds claims, none is left to grant now). Waits while other
        processes run the last trials, so a trial lost with its worker is taken over;
        ``wait=False`` answers at once (a fused group asks while its own trials run)."""
        while True:
            self._lock()
            try:
                if self.reap is not None and \
                        time.monotonic() - self._reaped >= self.reap_every_s:
                    self.reap(self.study)
                    self._reaped = time.monotonic()
                done, running = counts(self.study)
                if done < self.target and done + running + self._pending < self.target:
                    self._pending += 1
                    return True
                if done >= self.target or self._pending or not wait:
                    return False
            finally:
                self._unlock_if_idle()
            time.sleep(self.poll_s)

    def asked(self) -> None:
        """A claimed trial now exists in the study (or its ask failed)."""
        self._pending = max(0, self._pending - 1)
        self._unlock_if_idle()

    @contextlib.contextmanager
    def held(self):
        """The queue's lock (every process of the study) for a block: a step that must run
        once across workers, such as enqueueing the retries of interrupted trials."""
        self._lock()
        try:
            yield
        finally:
            self._unlock_if_idle()

    def remaining(self) -> int:
        return max(0, self.target - finished_count(self.study))

    def _lock(self) -> None:
        if self.lock is not None:
            if not self._held:
                self.lock.acquire()
                self._held = True
            return
        if self.lock_path is None or self._fd is not None:
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = open(self.lock_path, "a+")  # noqa: SIM115 (held across calls)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def _unlock_if_idle(self) -> None:
        if self._held and self._pending == 0:
            self._held = False
            self.lock.release()
        if self._fd is not None and self._pending == 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._fd.close()
            self._fd = None
