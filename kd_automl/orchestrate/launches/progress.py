"""A launch's progress, read from the store: its trials done, pruned and failed, the best
objective so far, the time it has run and an estimate of the time left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kd_automl.orchestrate.launches.control import LaunchStatus
from kd_automl.orchestrate.launches.state import utcnow


@dataclass(frozen=True)
class RunProgress:
    """Counts of this launch's search trials by state, best objective, seconds. ``failed``
    are trials that failed on their own (a crash, a diverged loss); ``interrupted`` were
    stopped (Stop, Ctrl-C, a lost worker) and are not done."""

    complete: int
    pruned: int
    failed: int
    running: int
    trials: int  # what the launch asked for
    best: float | None
    elapsed_s: float
    eta_s: float | None  # None until a trial has finished, or once nothing is left
    interrupted: int = 0
    phase: str | None = None  # what an active launch does before its first trial

    @property
    def done(self) -> int:
        return self.complete + self.pruned + self.failed

    @property
    def done_text(self) -> str:
        """``"3/8 (2 ok, 1 pruned, 0 failed)"``, with ``", 1 interrupted"`` when any was."""
        stopped = f", {self.interrupted} interrupted" if self.interrupted else ""
        phase = f"; {self.phase}" if self.phase else ""
        return (f"{self.done}/{self.trials} ({self.complete} ok, {self.pruned} pruned, "
                f"{self.failed} failed{stopped}){phase}")


def duration_text(seconds: float | None) -> str:
    """``"m:ss"`` or ``"h:mm:ss"``; ``"–"`` for None."""
    if seconds is None:
        return "–"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def progress(store, status: LaunchStatus, now: datetime | None = None) -> RunProgress:
    """Progress of ``status``'s launch in ``store`` (a read-only one will do). An Optuna
    launch counts the trials its study started since the launch (a resumed study holds
    earlier ones); an NNI launch, its experiment's."""
    from kd_automl.orchestrate.heartbeat import LOST  # not at import: it loads the store

    interrupted = ("interrupted", LOST)  # a trial's error when it was stopped, not failed
    rec = status.record
    exps = store.experiments([status.experiment]) if status.experiment else []
    trials = store.trials([exps[0].id], role="search") if exps else []
    if rec.backend == "optuna":
        trials = [t for t in trials if t.started_at >= rec.created]
    stopped = [t.state == "failed" and t.error in interrupted for t in trials]
    counts = {s: sum(t.state == s and not cut for t, cut in zip(trials, stopped, strict=True))
              for s in ("complete", "pruned", "failed", "running")}
    values = [t.objective for t in trials if t.state == "complete" and t.objective is not None]
    best = (max(values) if exps[0].maximize else min(values)) if values else None
    end = now or utcnow()
    if not status.active:
        ends = [datetime.fromisoformat(status.finished_at)] if status.finished_at else []
        ends += [t.finished_at for t in trials if t.finished_at]
        end = max(ends) if ends else end
    elapsed = max(0.0, (end - rec.created).total_seconds())
    done = counts["complete"] + counts["pruned"] + counts["failed"]
    left = max(0, rec.trials - done)
    eta = elapsed / done * left if status.active and done and left else None
    return RunProgress(**counts, trials=rec.trials, best=best, elapsed_s=elapsed, eta_s=eta,
                       interrupted=sum(stopped),
                       phase=_phase(store, exps, trials) if status.active else None)


def _phase(store, exps, trials) -> str | None:
    """Before the first search trial: the teacher or the student alone is training."""
    if trials:
        return None
    if not exps:
        return "starting: loading the data and the teacher"
    baseline = store.trials([exps[0].id], role="baseline")
    if any(t.state == "running" for t in baseline):
        return "training the student alone (the baseline) first"
    if not baseline:
        return "training (or loading) the teacher first"
    return None
