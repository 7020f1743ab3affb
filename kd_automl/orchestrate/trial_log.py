"""``run_study``'s progress when its caller gives no ``on_trial``: one line per trial.

The lines go to the ``kd_automl.progress`` logger at INFO. A script that configured logging
gets them through its own handlers and levels; one that configured none (no handler anywhere)
gets a handler to stderr on that logger, so ``run_study(...)`` alone is not silent for
minutes. ``logging.getLogger("kd_automl.progress").setLevel(logging.WARNING)`` (or an
``on_trial`` of one's own) silences them.

>>> on_trial = trial_log(spec, 16)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sys

from kd_automl.orchestrate.runner import TrialCallback, TrialEvent

log = logging.getLogger("kd_automl.progress")


def _visible() -> None:
    """A stderr handler for the progress lines when logging is configured nowhere."""
    if log.hasHandlers():  # the script's own handlers (or ours, from an earlier run) decide
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # logging configured later does not print them a second time


def trial_log(spec, total: int, teacher_cached: bool | None = None,
              best: float | None = None) -> TrialCallback:
    """An ``on_trial`` that logs each trial's end: ``[3/16] trial 2 complete val_acc 95.00%
    T=4.2 alpha=0.5 | done 3 pruned 0 failed 0 | best val_acc 96.11%``; first a line saying
    how many trials run, and whether the teacher is cached (``teacher_cached``). ``best``:
    the study's best so far (a resumed study's line starts from it)."""
    from kd_automl.store import format_params

    _visible()
    metric = spec.objective.metric
    maximize = spec.objective.direction == "maximize"
    counts = {"complete": 0, "pruned": 0, "failed": 0}
    best_: list[float] = [] if best is None else [best]

    def on_trial(event: TrialEvent) -> None:
        r = event.result
        if event.role == "baseline":
            acc = r.student_test_acc
            log.info("%s: student alone %s", spec.name, f"{100 * acc:.2f}% test"
                     if acc is not None else f"{r.status}: {r.error}")
            return
        if event.role == "lost":
            log.info("%s: trial %s %s", spec.name, event.number, r.error)
            return
        counts[r.status] = counts.get(r.status, 0) + 1
        v = r.objective(metric)
        if r.status == "complete" and v is not None and (
                not best_ or (v > best_[0] if maximize else v < best_[0])):
            best_[:] = [v]
        value = f" {metric} {100 * v:.2f}%" if v is not None else ""
        why = f" ({r.error.splitlines()[0][:120]})" if r.error else ""
        shown = f"{100 * best_[0]:.2f}%" if best_ else "–"
        log.info("%s [%d/%d] trial %s %s%s%s %s | done %d pruned %d failed %d | best %s %s",
                 spec.name, sum(counts.values()), total, event.number, r.status, value, why,
                 format_params(event.params), counts["complete"], counts["pruned"],
                 counts["failed"], metric, shown)

    first = {None: "", True: "; teacher: cached", False: "; training the teacher first"}
    log.info("%s: %d trial(s) to run%s", spec.name, total, first[teacher_cached])
    return on_trial
