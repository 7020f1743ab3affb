"""Two Optuna calls of every trial, with the same answers and fewer storage round-trips.

- :func:`should_prune`: ``Trial.should_prune()`` hands the pruner the study, and a median or
  percentile pruner reads every trial of it (on an RDB storage 7 statements that load each
  running and new trial with all its attributes) to use only the completed trials' values
  at the current step. Here those values come from one query, and the same pruner object
  decides on them. Any other pruner or storage is asked through ``should_prune()``, and so
  is a percentile pruner that reads anything else of the study (a later Optuna).
- :func:`tell`: ``Study.tell`` stores the result, then reads the finished trial back to
  return it (6 statements); we never use that copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.pruners import MedianPruner, PercentilePruner
from optuna.trial import TrialState

from kd_automl.store.optuna_private import latest_trial, tell_quietly
from kd_automl.store.optuna_tables import completed_values_at


class _Unsupported(Exception):
    """The pruner read something of the study that :class:`_CompletedView` does not hold."""


class _AtStep:
    """A completed trial as a percentile pruner reads it: its value at the current step."""

    __slots__ = ("intermediate_values",)
    state = TrialState.COMPLETE

    def __init__(self, values: dict[int, float]):
        self.intermediate_values = values


class _CompletedView:
    """The study as ``PercentilePruner.prune`` reads it: its direction and its completed
    trials; anything else it asks for raises :class:`_Unsupported`."""

    def __init__(self, study: optuna.Study, completed: list[_AtStep]):
        self._study, self._completed = study, completed

    @property
    def direction(self) -> optuna.study.StudyDirection:
        return self._study.direction

    def get_trials(self, deepcopy: bool = True, states=None) -> list[_AtStep]:
        if states is None or tuple(states) != (TrialState.COMPLETE,):
            raise _Unsupported(f"get_trials(states={states!r})")
        return list(self._completed)

    def __getattr__(self, name: str):
        raise _Unsupported(name)


def should_prune(trial: optuna.Trial) -> bool:
    """``trial.should_prune()``'s answer; one query for a median or percentile pruner."""
    study = trial.study
    pruner = study.pruner
    latest = latest_trial(trial)
    if type(pruner) in (MedianPruner, PercentilePruner) and latest is not None \
            and len(study.directions) == 1:
        frozen = latest()
        step = frozen.last_step
        values = completed_values_at(study, step) if step is not None else None
        if values is not None:
            view = _CompletedView(study, [_AtStep({} if v is None else {step: v})
                                          for v in values])
            try:
                return pruner.prune(view, frozen)  # type: ignore[arg-type]
            except _Unsupported:
                pass
    return trial.should_prune()


def tell(study: optuna.Study, trial: optuna.Trial, values: float | Sequence[float] | None = None,
         state: TrialState | None = None) -> None:
    """``study.tell(trial, values, state)`` without reading the finished trial back."""
    if not tell_quietly(study, trial, values, state):  # a later Optuna: the public call
        study.tell(trial, values, state)
