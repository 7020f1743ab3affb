"""The worker actor: one ``kd-automl optuna worker`` loop on the study, in a Ray actor.

Ray runs a plain actor's methods in its process's main thread, so the worker loop stops the
way every worker does: a stop signal raises in the main thread, the runner stores the
running trial as interrupted (with its checkpoint) and the loop ends. The launcher's Ctrl-C
raises :class:`StopFlag`; a thread of each actor waits for it and delivers SIGTERM to its
main thread (``_thread.interrupt_main``), which holds it while a trial's row is written.

A node that dies takes its actor with it: its trial stops beating and the heartbeat fails it
"worker lost" and retries it once elsewhere; Ray restarts the actor where a node has room
(``max_restarts``) and runs :meth:`KDWorker.run` again there (``max_task_retries``), which
joins the study like any new worker.
"""

from __future__ import annotations

import _thread
import asyncio
import logging
import os
import signal
import sys
import threading
import warnings
from typing import Any

import ray

ENV_PASSED = ("KD_AUTOML_HEARTBEAT_S", "KD_AUTOML_THREADS")  # the launcher's, for the actors


@ray.remote(num_cpus=0)
class StopFlag:
    """Raised once by the launcher (Ctrl-C); every worker waits on it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def wait(self) -> bool:
        await self._event.wait()
        return True

    async def raise_(self) -> None:
        self._event.set()


class KDWorker:
    """One worker loop of a study (the dashboard lists it as ``KDWorker``, named
    ``<study>:worker-<i>``)."""

    def __init__(self, index: int, env: dict[str, str]) -> None:
        os.environ.update(env)  # threads before torch loads
        self.index = index
        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        with warnings.catch_warnings():  # Ray reads its own deprecated actor_id here
            warnings.simplefilter("ignore")
            self.restarted = context.was_current_actor_reconstructed
        self._running = threading.Event()
        self._stopped_by_launcher = False
        import kd_automl.orchestrate.join  # noqa: F401 (torch, Optuna, the engine: before run)

    def _say(self, line: str) -> None:
        print(f"[worker {self.index}] {line}", file=sys.stderr, flush=True)

    def _watch(self, stop: Any) -> None:
        try:
            ray.get(stop.wait.remote())
        except Exception as err:  # the flag is gone with the launcher: so is this actor soon
            if self._running.is_set():
                self._say(f"stop flag unreachable ({type(err).__name__})")
            return
        if self._running.is_set():
            self._stopped_by_launcher = True
            _thread.interrupt_main(signal.SIGTERM)

    def run(self, spec_data: dict, study_name: str, db: str, storage: str | None,
            workspace: str, threads: int, baseline: bool, stop: Any,
            wait_s: float = 120.0) -> dict[str, Any]:
        """Join the study until it holds its trials; returns this worker's summary (a stop
        is a summary too)."""
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logging.getLogger("kd_automl").addHandler(handler)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from kd_automl.orchestrate import signals
        from kd_automl.orchestrate.join import join_study
        from kd_automl.orchestrate.recording import run_study_baseline
        from kd_automl.spec import parse_spec

        where = {"worker": self.index, "node": self.node, "pid": os.getpid(),
                 "restarted": self.restarted}
        self._say(f"joining study {study_name} on node {self.node[:12]}, pid {os.getpid()}"
                  + (" (restarted)" if self.restarted else ""))
        spec = parse_spec(spec_data)
        self._running.set()
        threading.Thread(target=self._watch, args=(stop,), name="kd-ray-stop",
                         daemon=True).start()
        try:
            with signals.handled():
                if baseline and self.index == 0:  # the student alone, once per experiment
                    run_study_baseline(spec, study_name, db, workspace)

            def line(event) -> None:
                r = event.result
                acc = f" val {100 * r.student_val_acc:.2f}%" \
                    if r.student_val_acc is not None else ""
                self._say(f"trial {event.number}: {r.status}{acc}")

            summary = join_study(spec, study_name, db=db, storage=storage,
                                 workspace=workspace, threads=threads, wait_s=wait_s,
                                 on_trial=line)
        except KeyboardInterrupt as err:
            by = "the launcher" if self._stopped_by_launcher else str(err)
            self._say(f"stopped by {by}: its running trial is stored as interrupted")
            return {**where, "stopped": by}
        finally:
            self._running.clear()
        self._say(f"done: {summary.trials_run} trial(s) run here; the study has "
                  f"{summary.finished} of {summary.target}")
        return {**where, "trials_run": summary.trials_run, "finished": summary.finished,
                "target": summary.target}


RemoteWorker = ray.remote(KDWorker)
