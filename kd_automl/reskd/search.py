"""One stage of ResKD: evaluate candidate res-student architectures, keep the best.

Backends (:mod:`~kd_automl.reskd.optuna_search`, :mod:`~kd_automl.reskd.nni_nas`)
only propose architectures and call :meth:`StageSearch.evaluate`, which trains the
candidate towards the current residual, scores it and records it in the store.

Objective (maximised): ``gap_reduction - flops_weight * flops / teacher_flops``,
where ``gap_reduction = 1 - E(r_k - z_k) / E(r_k)`` on the validation split (see
:mod:`~kd_automl.reskd.residual`). A candidate that does not fit the remaining
FLOPs budget is not trained and scores :data:`INFEASIBLE`.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from kd_automl.data import Dataset
from kd_automl.engine.result import TrialResult
from kd_automl.engine.train import predict_logits
from kd_automl.models import profile
from kd_automl.orchestrate.runner import PlannedTrial, run_one
from kd_automl.reskd.config import ReskdConfig
from kd_automl.reskd.ensemble import SPLITS, Ensemble, Member
from kd_automl.reskd.residual import gap_reduction
from kd_automl.reskd.space import Arch, build_res_student
from kd_automl.reskd.stopping import StopRule
from kd_automl.reskd.training import Targets, train_res_student
from kd_automl.spec import ExperimentSpec
from kd_automl.store import Store

log = logging.getLogger(__name__)
INFEASIBLE = -1000.0


@dataclass
class Context:
    """What every stage shares."""

    spec: ExperimentSpec
    cfg: ReskdConfig
    data: Dataset
    device: torch.device
    teacher: nn.Module
    teacher_test_acc: float
    ensemble: Ensemble
    rule: StopRule
    store: Store
    experiment_id: int
    on_candidate: Callable[[Candidate], None] | None = None


@dataclass
class Candidate:
    """One evaluated architecture of a stage."""

    stage: int
    number: int
    arch: Arch
    status: str  # complete | infeasible | failed
    objective: float
    flops: int = 0
    params: int = 0
    gap_reduction: float | None = None
    energy_ratio: float | None = None
    val_acc: float | None = None  # of the ensemble with this candidate added
    test_acc: float | None = None
    error: str | None = None
    model: nn.Module | None = field(default=None, repr=False)
    logits: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def trial_id(self) -> str:
        return f"stage{self.stage}-{self.number}"


def arch_key(arch: Arch) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in arch.items()))


class StageSearch:
    """Evaluates the candidates of stage ``stage`` (1-based); ``best`` is the winner so far."""

    def __init__(self, ctx: Context, stage: int):
        self.ctx, self.stage = ctx, stage
        self.candidates: list[Candidate] = []
        self._seen: dict[tuple, Candidate] = {}
        ens = ctx.ensemble
        self._residual = {s: ens.residual(s) for s in ("val",)}
        self._targets = Targets(ctx.teacher, ens.modules(), ctx.data.num_classes)
        self._train_targets = None
        if ctx.spec.train.augment == "none":
            self._train_targets = torch.cat([ens.teacher_logits["train"], ens.logits("train")], 1)

    @property
    def best(self) -> Candidate | None:
        done = [c for c in self.candidates if c.status == "complete"]
        return max(done, key=lambda c: c.objective) if done else None

    def evaluate(self, arch: Arch, model: nn.Module | None = None) -> float:
        """Train and score ``arch`` (``model``: an instance of it, e.g. built by NNI)."""
        arch = {k: (v.item() if hasattr(v, "item") else v) for k, v in arch.items()}
        key = arch_key(arch)
        if key in self._seen:  # a backend proposing an architecture again: same answer
            return self._seen[key].objective
        cand = self._run(arch, model)
        self._seen[key] = cand
        self.candidates.append(cand)
        if self.ctx.on_candidate:
            self.ctx.on_candidate(cand)
        return cand.objective

    def _run(self, arch: Arch, model: nn.Module | None) -> Candidate:
        ctx, ens, data = self.ctx, self.ctx.ensemble, self.ctx.data
        cand = Candidate(self.stage, len(self.candidates), arch, "complete", INFEASIBLE)

        def run() -> TrialResult:
            nonlocal model
            start = time.perf_counter()
            try:
                model = model if model is not None else build_res_student(
                    arch, data.input_shape, data.num_classes)
                prof = profile(model, data.input_shape, latency=False)
                cand.flops, cand.params = prof.flops, prof.params
                frac = cand.flops / ens.teacher_flops
                if not ctx.rule.fits(ens.flops_frac, frac):
                    cand.status = "infeasible"
                    cand.error = (f"infeasible: {frac:.3f} of the teacher's FLOPs does not fit "
                                  f"the remaining budget "
                                  f"{ctx.rule.flops_budget - ens.flops_frac:.3f}")
                else:
                    self._train(cand, model, frac)
            except Exception as err:  # a failing candidate is recorded, never ends the search
                cand.status, cand.error = "failed", f"{type(err).__name__}: {err}"
                log.warning("res-student %s failed: %s\n%s", arch, cand.error,
                            traceback.format_exc())
            return self._result(cand, time.perf_counter() - start)

        # stopped halfway (Ctrl-C included), the runner stores the row as interrupted
        run_one(PlannedTrial(cand.trial_id, None, dict(arch), method="reskd", run=run),
                ctx.store, ctx.experiment_id)
        return cand

    def _train(self, cand: Candidate, model: nn.Module, frac: float) -> None:
        ctx, ens, data, cfg = self.ctx, self.ctx.ensemble, self.ctx.data, self.ctx.cfg
        budget = ctx.spec.train if cfg.epochs is None else ctx.spec.train.model_copy(
            update={"epochs": cfg.epochs})
        seed = ctx.spec.seed + 1000 * self.stage + cand.number
        model = train_res_student(model, data, budget, ctx.device, targets=self._targets,
                                  train_targets=self._train_targets, loss=cfg.loss,
                                  temperature=cfg.temperature, ce_weight=cfg.ce_weight, seed=seed)
        xs = {"train": data.x_train, "val": data.x_val, "test": data.x_test}
        cand.logits = {s: predict_logits(model, xs[s], ctx.device) for s in SPLITS}
        cand.model = model
        before = self._residual["val"]
        after = before - cand.logits["val"]
        cand.gap_reduction = gap_reduction(before, after)
        cand.energy_ratio = ens.energy_ratio("val") * (1 - cand.gap_reduction)
        cand.val_acc = ens.accuracy("val", cand.logits["val"])
        cand.test_acc = ens.accuracy("test", cand.logits["test"])
        cand.objective = cand.gap_reduction - cfg.flops_weight * frac

    def _result(self, cand: Candidate, wall: float) -> TrialResult:
        ens = self.ctx.ensemble
        status = {"complete": "complete", "infeasible": "pruned", "failed": "failed"}[cand.status]
        extra: dict[str, Any] = {
            "stage": self.stage, "candidate": cand.number, "arch": cand.arch,
            "status": cand.status, "objective": cand.objective,
            "res_student_flops": cand.flops, "res_student_params": cand.params,
            "res_student_flops_frac": cand.flops / ens.teacher_flops,
            "ensemble_flops_frac": (ens.flops + cand.flops) / ens.teacher_flops,
            "ensemble_members": len(ens.members) + 1, "teacher_flops": ens.teacher_flops,
            "gap_reduction": cand.gap_reduction, "energy_ratio": cand.energy_ratio}
        return TrialResult(
            status=status, student_val_acc=cand.val_acc, student_test_acc=cand.test_acc,
            teacher_test_acc=self.ctx.teacher_test_acc,
            gap=(self.ctx.teacher_test_acc - cand.test_acc) if cand.test_acc is not None else None,
            student_params=sum(m.params for m in ens.members) + cand.params,
            student_flops=ens.flops + cand.flops, wall_time_s=wall, error=cand.error,
            extra=extra)

    def member(self, cand: Candidate) -> Member:
        return Member(stage=self.stage, arch=cand.arch, flops=cand.flops, params=cand.params,
                      model=cand.model, logits=cand.logits, trial=cand.trial_id,
                      gap_reduction=cand.gap_reduction or 0.0)
