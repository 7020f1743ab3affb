"""Final runs: the trainings of ``kd-automl train`` (role ``final``), by configuration.

Each configuration of an experiment (one spec at one number of epochs, its hash in
``extra["final"]["config"]``) is one :class:`FinalGroup`: its runs by seed (validation and
test accuracy, the kept weights) and, over two or more seeds, the test accuracy's mean ±
std with a 95% t-interval of the mean. A group names the search trial it retrains when
``train`` found one (its search objective beside it).

>>> groups = finals(store, ["digits-kd"])                  # doctest: +SKIP
>>> groups[0].label, groups[0].mean, groups[0].runs[0].weights   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kd_automl.store.confirmed import _interval
from kd_automl.store.records import TrialRecord
from kd_automl.store.store import Store

ROLE = "final"


@dataclass(frozen=True)
class FinalRun:
    """One final run (one seed)."""

    trial: str  # its backend id: final-<config>-s<seed>-e<epochs>
    trial_id: int
    seed: int
    state: str
    val_acc: float | None
    test_acc: float | None
    weights: Path | None
    wall_time_s: float | None
    error: str | None


@dataclass(frozen=True)
class FinalGroup:
    """One configuration of one experiment, over the seeds it ran."""

    experiment: str
    backend: str
    config: str  # the configuration's SHA-256
    epochs: int
    method: str
    params: dict[str, Any]
    source: str | None  # the search trial it retrains (backend id), if one matched
    search_objective: float | None  # what that trial scored in the search
    objective_metric: str  # the experiment's (val_acc, test_acc, student_params, ...)
    runs: tuple[FinalRun, ...]  # by seed
    n: int  # complete runs with a test accuracy
    mean: float | None  # test accuracy over them
    std: float | None
    ci_low: float | None
    ci_high: float | None
    val_mean: float | None

    @property
    def label(self) -> str:
        return f"#{self.source}" if self.source else f"spec {self.config[:8]}"


def finals(store: Store, experiments: list[str] | None = None,
           trials: list[TrialRecord] | None = None, *,
           states: tuple[str, ...] | None = ("complete",),
           trial_ids: list[str] | None = None) -> list[FinalGroup]:
    """The final runs of ``experiments`` (all when None) in ``states`` (None: any), grouped
    by configuration; per experiment, groups in the order of their first run. ``trial_ids``:
    only the runs with these backend ids. ``trials`` reuses rows already loaded from
    ``store``."""
    exps = store.experiments(experiments)
    ids = {e.id for e in exps}
    if trials is None:
        trials = store.trials(ids, role=ROLE) if ids else []
    runs = [t for t in trials if t.role == ROLE and t.experiment_id in ids
            and isinstance(t.extra.get("final"), dict)
            and (states is None or t.state in states)
            and (trial_ids is None or t.backend_trial_id in trial_ids)]
    sources = {t.extra["final"].get("source_id") for t in runs} - {None}
    originals = {t.id: t for t in store.trials_by_id(sources)}
    groups: dict[tuple[int, str, int], list[TrialRecord]] = {}
    for t in runs:
        info = t.extra["final"]
        groups.setdefault((t.experiment_id, str(info.get("config", "")),
                           int(info.get("epochs", 0))), []).append(t)
    out = []
    for exp in exps:
        for (exp_id, config, epochs), rs in groups.items():
            if exp_id != exp.id:
                continue
            rs = sorted(rs, key=_seed)
            info = rs[0].extra["final"]
            done = [t for t in rs if t.state == "complete" and t.student_test_acc is not None]
            mean = std = low = high = val = None
            if done:
                mean, std, low, high = _interval([t.student_test_acc for t in done])
                vals = [t.student_val_acc for t in done if t.student_val_acc is not None]
                val = sum(vals) / len(vals) if vals else None
            original = originals.get(info.get("source_id"))
            out.append(FinalGroup(
                experiment=exp.name, backend=exp.backend, config=config, epochs=epochs,
                method=rs[0].method, params=rs[0].params, source=info.get("source_trial"),
                search_objective=original.objective if original else None,
                objective_metric=exp.objective_metric,
                runs=tuple(FinalRun(t.backend_trial_id, t.id, _seed(t), t.state,
                                    t.student_val_acc, t.student_test_acc,
                                    t.weights.path if t.weights else None, t.wall_time_s,
                                    t.error) for t in rs),
                n=len(done), mean=mean, std=std, ci_low=low, ci_high=high, val_mean=val))
    return out


def _seed(t: TrialRecord) -> int:
    return int(t.extra["final"].get("seed", 0))


__all__ = ["FinalGroup", "FinalRun", "finals"]
