"""ResKD (Li et al., IEEE TIP 2021): a sequence of searched res-students that learn the gap.

Res-student ``k`` is trained towards ``z_teacher - sum_{j<k} z_j``; the student is
the sum of the members' logits. Each stage searches the res-student's
architecture (Optuna or NNI multi-trial NAS over one space), the sequence stops
on the residual's energy or the FLOPs budget, and adaptive inference exits each
sample at the first confident prefix. See ``docs/reskd.md``.
"""

from kd_automl.reskd.adaptive import ExitPoint, adaptive_curve, adaptive_point, prefix_logits
from kd_automl.reskd.config import ArchSpace, ReskdConfig, reskd_config
from kd_automl.reskd.residual import energy, energy_ratio, gap_reduction, residual_target
from kd_automl.reskd.run import ReskdSummary, experiment_name, run_reskd
from kd_automl.reskd.space import build_res_student, suggest_arch
from kd_automl.reskd.stopping import StopRule

__all__ = ["ArchSpace", "ExitPoint", "ReskdConfig", "ReskdSummary", "StopRule",
           "adaptive_curve", "adaptive_point", "build_res_student", "energy", "energy_ratio",
           "experiment_name", "gap_reduction", "prefix_logits", "reskd_config",
           "residual_target", "run_reskd", "suggest_arch"]
