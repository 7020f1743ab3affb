"""Heartbeats for running trials, and what happens to a trial whose process is gone.

Optuna records heartbeats itself only inside ``study.optimize``; we ask and tell,
so :class:`Heartbeat` beats for every trial this process runs (a set: a fused
group runs several at once). A trial whose heartbeat is older than the grace
period is stale: :func:`reap_stale` fails it in Optuna's tables and in
``kd_trials`` ("worker lost") and queues one retry with the same parameters.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import threading
import warnings
from datetime import datetime, timedelta

import optuna
from optuna.trial import TrialState

from kd_automl.store import optuna_private as private
from kd_automl.store.optuna_tables import running_without_heartbeat

log = logging.getLogger(__name__)

INTERVAL_ENV = "KD_AUTOML_HEARTBEAT_S"
LOST = "worker lost"


def interval_s() -> int:
    """Seconds between heartbeats (``$KD_AUTOML_HEARTBEAT_S``, default 10)."""
    return max(1, int(os.environ.get(INTERVAL_ENV) or 10))


def grace_s(interval: int) -> int:
    """A trial is stale after three missed beats."""
    return 3 * interval


_Retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) \
    or optuna.storages.RetryFailedTrialCallback


class LostTrial:
    """Optuna's stale-trial callback: fail the ``kd_trials`` row too, then retry once."""

    def __init__(self, store_url: str):
        self.store_url = store_url
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._retry = _Retry(max_retry=1)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        kd_id = trial.user_attrs.get("kd_trial_id")
        if kd_id is not None:
            from kd_automl.store import Store

            store = Store(self.store_url)
            try:
                store.mark_failed(int(kd_id), LOST)
            except Exception as err:  # the retry still matters more
                log.warning("could not mark store trial %s as lost: %s", kd_id, err)
            finally:
                store.dispose()
        log.warning("trial %d: %s; retrying it once with the same parameters", trial.number, LOST)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._retry(study, trial)


def heartbeat_kwargs(store_url: str) -> dict:
    """``RDBStorage`` keyword arguments that turn heartbeats on."""
    interval = interval_s()
    params = inspect.signature(optuna.storages.RDBStorage).parameters
    key = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params
           else "failed_trial_callback")
    return {"heartbeat_interval": interval, "grace_period": grace_s(interval),
            key: LostTrial(store_url)}


class Heartbeat:
    """A background thread recording a heartbeat for each trial in a set."""

    def __init__(self, storage: optuna.storages.BaseStorage, interval: int | None = None):
        self.storage = storage
        self.interval = interval or storage.get_heartbeat_interval() or interval_s()
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, trial: optuna.Trial) -> None:
        """Beat for ``trial`` from now on (the first beat is recorded at once)."""
        with self._lock:
            self._ids.add(private.trial_id(trial))
        self._beat(private.trial_id(trial))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kd-heartbeat", daemon=True)
            self._thread.start()

    def remove(self, trial: optuna.Trial) -> None:
        with self._lock:
            self._ids.discard(private.trial_id(trial))

    def stop(self) -> None:
        self._stop.set()

    def _beat(self, trial_id: int) -> None:
        try:
            self.storage.record_heartbeat(trial_id)
        except Exception as err:  # a busy database: the next beat may get through
            log.debug("heartbeat for trial id %d failed: %s", trial_id, err)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = list(self._ids)
            for trial_id in ids:
                self._beat(trial_id)


_by_storage: dict[int, Heartbeat] = {}


def heartbeat_for(study: optuna.Study) -> Heartbeat | None:
    """This process's heartbeat for ``study``'s storage (None where heartbeats are off)."""
    storage = private.storage_of(study)
    if not (hasattr(storage, "record_heartbeat") and storage.get_heartbeat_interval()):
        return None
    beat = _by_storage.get(id(storage))
    if beat is None or beat.storage is not storage:
        beat = _by_storage[id(storage)] = Heartbeat(storage)
    return beat


def _never_beaten(study: optuna.Study, grace: int) -> list[int]:
    """RUNNING trials without any heartbeat that started over ``grace`` s ago (older runs)."""
    storage = private.storage_of(study)
    ids = running_without_heartbeat(study) or []
    old = datetime.now() - timedelta(seconds=grace)
    return [i for i in ids if (storage.get_trial(i).datetime_start or old) <= old]


def reap_stale(study: optuna.Study) -> int:
    """Fail (and retry once) the RUNNING trials whose process is gone; returns how many."""
    storage = private.storage_of(study)
    if not (hasattr(storage, "record_heartbeat") and storage.get_heartbeat_interval()):
        return 0
    backend = private.backend_of(storage)
    grace = getattr(backend, "grace_period", None) or 2 * storage.get_heartbeat_interval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = private.stale_trial_ids(study) + _never_beaten(study, grace)
    callback = storage.get_heartbeat_stale_trial_callback() \
        if hasattr(storage, "get_heartbeat_stale_trial_callback") \
        else storage.get_failed_trial_callback()
    failed = 0
    for trial_id in ids:
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed += 1
                if callback is not None:
                    callback(study, storage.get_trial(trial_id))
    return failed
