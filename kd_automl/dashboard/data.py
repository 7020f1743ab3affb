"""What the dashboard shows, read from a read-only store and cached per database version."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from kd_automl.store.leaderboard import Row, leaderboard
from kd_automl.store.records import ExperimentRecord, TrialRecord, format_params
from kd_automl.store.store import Store


@dataclass
class Snapshot:
    """Every experiment and trial at one database version."""

    version: str
    experiments: list[ExperimentRecord] = field(default_factory=list)
    trials: list[TrialRecord] = field(default_factory=list)
    counts: dict[int, dict[str, int]] = field(default_factory=dict)


class DashboardData:
    """Reads the store; reloads only when :meth:`Store.version` changes."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None

    def version(self) -> str:
        return json.dumps(self.store.version())

    def snapshot(self) -> Snapshot:
        with self._lock:
            v = self.version()
            if self._snap is None or self._snap.version != v:
                exps = self.store.experiments()
                self._snap = Snapshot(v, exps, self.store.trials([e.id for e in exps]),
                                      self.store.trial_counts())
            return self._snap

    def trials_of(self, exp_ids: list[int] | None) -> list[TrialRecord]:
        """Trials of the selected experiments (all when none are selected)."""
        trials = self.snapshot().trials
        if not exp_ids:
            return trials
        keep = set(exp_ids)
        return [t for t in trials if t.experiment_id in keep]

    def experiment_rows(self) -> list[dict[str, Any]]:
        snap = self.snapshot()
        best = {(r.experiment, r.backend): r
                for r in leaderboard(self.store, best_per_experiment=True, trials=snap.trials)}
        rows = []
        for e in snap.experiments:
            c = snap.counts.get(e.id, {})
            b = best.get((e.name, e.backend))
            rows.append({"id": str(e.id), "experiment": e.name, "backend": e.backend,
                         "dataset": e.dataset, "teacher": e.teacher or "–",
                         "student": e.student, "method": e.method,
                         "objective": f"{e.objective_metric} ({e.direction[:3]})",
                         "complete": c.get("complete", 0), "pruned": c.get("pruned", 0),
                         "failed": c.get("failed", 0), "running": c.get("running", 0),
                         "best": _pct(b.objective if b else None),
                         "created": f"{e.created_at:%Y-%m-%d %H:%M}"})
        return rows

    def leaderboard_rows(self, exp_ids: list[int] | None, states: list[str] | None,
                         best_per_experiment: bool) -> list[dict[str, Any]]:
        snap = self.snapshot()
        names = None
        if exp_ids:
            names = sorted({e.name for e in snap.experiments if e.id in set(exp_ids)})
        rows = leaderboard(self.store, names, states=states or None,
                           best_per_experiment=best_per_experiment,
                           trials=self.trials_of(exp_ids))
        return [_grid_row(r) for r in rows]

    def trial(self, trial_id: int) -> TrialRecord | None:
        found = self.store.trials_by_id([trial_id], with_epochs=True)
        return found[0] if found else None


def _pct(v: float | None) -> float | None:
    return None if v is None else round(100 * v, 2)


def _grid_row(r: Row) -> dict[str, Any]:
    return {"trial_id": str(r.trial_id), "rank": r.rank, "experiment": r.experiment,
            "backend": r.backend, "trial": r.trial, "state": r.state, "method": r.method,
            "hyperparameters": format_params(r.params),
            "val_acc": _pct(r.student_val_acc), "test_acc": _pct(r.student_test_acc),
            "teacher_acc": _pct(r.teacher_test_acc), "gap": _pct(r.gap), "gain": _pct(r.gain),
            "student_params": r.student_params, "student_flops": r.student_flops}
