"""When ResKD stops adding res-students.

Checked in this order, each giving the recorded ``stop_reason``:

1. ``budget`` (before a stage): the cheapest architecture of the space would take
   the ensemble's FLOPs past ``flops_budget`` x the teacher's.
2. ``no_gain`` (after a stage's search): the best candidate removed no more than
   ``min_gain`` of the residual's energy (or every candidate failed); it is not added.
3. after a res-student is added:
   ``energy`` when the remaining residual's energy ratio (validation split, see
   :mod:`kd_automl.reskd.residual`) is ``<= energy_threshold``;
   ``budget`` when the ensemble's FLOPs fraction is ``>= flops_budget``;
   ``max_students`` when the ensemble has ``max_students`` members.

During a stage's search a candidate that does not fit the remaining budget is not
trained (it is recorded as infeasible).

>>> StopRule(energy_threshold=0.1, flops_budget=0.5, max_students=3).after_student(1, 0.08, 0.1)
'energy'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StopRule:
    energy_threshold: float
    flops_budget: float
    max_students: int
    min_gain: float = 0.0

    def fits(self, used_frac: float, candidate_frac: float) -> bool:
        """Whether a res-student costing ``candidate_frac`` fits the remaining budget."""
        return used_frac + candidate_frac <= self.flops_budget + 1e-12

    def before_stage(self, used_frac: float, cheapest_frac: float) -> str | None:
        return None if self.fits(used_frac, cheapest_frac) else "budget"

    def after_search(self, best_gain: float | None) -> str | None:
        return "no_gain" if best_gain is None or best_gain <= self.min_gain else None

    def after_student(self, n_students: int, energy_ratio: float, flops_frac: float
                      ) -> str | None:
        if energy_ratio <= self.energy_threshold:
            return "energy"
        if flops_frac >= self.flops_budget - 1e-12:
            return "budget"
        if n_students >= self.max_students:
            return "max_students"
        return None
