"""ResKD end to end: teacher -> stages of searched res-students -> stop -> adaptive inference.

>>> summary = run_reskd(load_spec("search_spaces/digits_reskd.yaml"), ws, store)  # doctest: +SKIP
>>> summary.stop_reason, summary.test_acc, summary.flops_frac                      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from kd_automl.engine.device import pick_device
from kd_automl.engine.result import TrialResult
from kd_automl.engine.teacher import train_teacher
from kd_automl.engine.train import predict_logits
from kd_automl.engine.trial import get_dataset
from kd_automl.errors import KDAutoMLError
from kd_automl.models import profile
from kd_automl.orchestrate.runner import PlannedTrial, run_one
from kd_automl.reskd.adaptive import (
    ExitPoint,
    adaptive_curve,
    full_points,
    pick_threshold,
    prefix_logits,
)
from kd_automl.reskd.config import ReskdConfig, reskd_config
from kd_automl.reskd.ensemble import Ensemble
from kd_automl.reskd.residual import energy_ratio
from kd_automl.reskd.search import Candidate, Context, StageSearch
from kd_automl.reskd.space import build_res_student, smallest_arch
from kd_automl.reskd.stopping import StopRule
from kd_automl.spec import ExperimentSpec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)
Backend = Literal["optuna", "nni"]


@dataclass
class ReskdSummary:
    experiment: str
    backend: str
    stop_reason: str
    members: list[dict[str, Any]]
    teacher_test_acc: float
    test_acc: float | None
    flops_frac: float
    adaptive: dict[str, Any] = field(default_factory=dict)
    nni_experiments: list[str] = field(default_factory=list)


def experiment_name(spec: ExperimentSpec) -> str:
    return f"{spec.name}-reskd"


def run_reskd(spec: ExperimentSpec, ws: Workspace, store: Store, *, backend: Backend = "optuna",
              strategy: str | None = None, trials_per_stage: int | None = None,
              device: str | None = None,
              on_candidate: Callable[[Candidate], None] | None = None,
              on_stage: Callable[[int, str], None] | None = None) -> ReskdSummary:
    """Grow the ResKD ensemble for ``spec``, recording every candidate and the ensemble."""
    cfg = reskd_config(spec)
    if backend not in ("optuna", "nni"):
        raise KDAutoMLError(f"unknown backend {backend!r}; use optuna or nni")
    if backend == "nni":
        from kd_automl.extras import require_nni

        require_nni()  # before the teacher trains
    strategy = strategy or cfg.strategy
    n_trials = trials_per_stage or cfg.trials_per_stage
    start = time.perf_counter()
    dev = pick_device(device)
    data = get_dataset(spec)
    if len(data.input_shape) != 3:
        raise KDAutoMLError(f"ResKD's res-students are conv nets: dataset {data.name!r} has "
                            f"inputs of shape {data.input_shape}, not (C, H, W)")
    cached = train_teacher(spec, data, ws, dev)
    teacher = cached.model
    teacher_flops = profile(teacher, data.input_shape, latency=False).flops
    xs = {"train": data.x_train, "val": data.x_val, "test": data.x_test}
    ens = Ensemble(teacher_logits={s: predict_logits(teacher, x, dev) for s, x in xs.items()},
                   teacher_flops=teacher_flops,
                   labels={"train": data.y_train, "val": data.y_val, "test": data.y_test})
    rule = StopRule(cfg.energy_threshold, cfg.flops_budget, cfg.max_students, cfg.min_gain)
    name = experiment_name(spec)
    exp_id = store.experiment(spec, backend, name=name)
    ctx = Context(spec, cfg, data, dev, teacher, cached.metrics["test_acc"], ens, rule, store,
                  exp_id, on_candidate)
    cheapest = profile(build_res_student(smallest_arch(cfg.space), data.input_shape,
                                         data.num_classes), data.input_shape, latency=False).flops
    nni_ids: list[str] = []
    stop_reason = "max_students"
    for k in range(1, cfg.max_students + 1):
        reason = rule.before_stage(ens.flops_frac, cheapest / teacher_flops)
        if reason:
            stop_reason = reason
            break
        if on_stage:
            on_stage(k, "searching")
        stage = StageSearch(ctx, k)
        seed = spec.seed + k
        if backend == "optuna":
            from kd_automl.reskd.optuna_search import search_stage_optuna

            search_stage_optuna(stage, cfg.space, n_trials, seed)
        else:
            from kd_automl.reskd.nni_nas import search_stage_nni

            nni_ids.append(search_stage_nni(stage, cfg.space, n_trials, seed, strategy, ws))
        best = stage.best
        reason = rule.after_search(best.gap_reduction if best else None)
        if reason:
            stop_reason = reason
            break
        ens.members.append(stage.member(best))
        log.info("stage %d: %s (gap reduction %.3f, ensemble %.3f of the teacher's FLOPs)",
                 k, best.arch, best.gap_reduction, ens.flops_frac)
        reason = rule.after_student(len(ens.members), ens.energy_ratio("val"), ens.flops_frac)
        if reason:
            stop_reason = reason
            break
    summary = _finish(ctx, cfg, name, backend, strategy, stop_reason, nni_ids,
                      time.perf_counter() - start)
    return summary


def _members(ens: Ensemble) -> list[dict[str, Any]]:
    out, cum = [], 0
    residuals_val = ens.teacher_logits["val"].clone()
    for i, m in enumerate(ens.members):
        cum += m.flops
        residuals_val = residuals_val - m.logits["val"]
        prefix = ens.members[:i + 1]
        acc = {s: float((sum(p.logits[s] for p in prefix).argmax(1).cpu()
                         == ens.labels[s].cpu()).float().mean()) for s in ("val", "test")}
        out.append({"stage": m.stage, "arch": m.arch, "trial": m.trial, "flops": m.flops,
                    "params": m.params, "flops_frac": m.flops / ens.teacher_flops,
                    "ensemble_flops_frac": cum / ens.teacher_flops,
                    "ensemble_val_acc": acc["val"], "ensemble_test_acc": acc["test"],
                    "gap_reduction": m.gap_reduction,
                    "energy_ratio": energy_ratio(residuals_val, ens.teacher_logits["val"])})
    return out


def _adaptive(ens: Ensemble, cfg: ReskdConfig) -> dict[str, Any]:
    if not ens.members:
        return {}
    flops = [m.flops for m in ens.members]
    out: dict[str, Any] = {"thresholds": cfg.thresholds}
    for split in ("val", "test"):
        prefixes = prefix_logits([m.logits[split] for m in ens.members])
        labels = ens.labels[split]
        out[f"full_{split}"] = [p.to_dict() for p in
                                full_points(prefixes, labels, flops, ens.teacher_flops)]
        out[split] = [p.to_dict() for p in adaptive_curve(prefixes, labels, flops,
                                                          ens.teacher_flops, cfg.thresholds)]
    val = [ExitPoint(**p) for p in out["val"]]
    chosen = pick_threshold(val, out["full_val"][-1]["accuracy"], cfg.adaptive_tolerance)
    test = next(p for p in out["test"] if p["threshold"] == chosen.threshold)
    out["chosen"] = {"threshold": chosen.threshold, "val_acc": chosen.accuracy,
                     "val_flops_frac": chosen.flops_frac, "test_acc": test["accuracy"],
                     "test_flops_frac": test["flops_frac"], "tolerance": cfg.adaptive_tolerance}
    return out


def _finish(ctx: Context, cfg: ReskdConfig, name: str, backend: str, strategy: str,
            stop_reason: str, nni_ids: list[str], wall: float) -> ReskdSummary:
    ens = ctx.ensemble
    members = _members(ens)
    adaptive = _adaptive(ens, cfg)
    test_acc = members[-1]["ensemble_test_acc"] if members else None
    val_acc = members[-1]["ensemble_val_acc"] if members else None
    result = TrialResult(
        status="complete" if members else "failed",
        student_val_acc=val_acc, student_test_acc=test_acc,
        teacher_test_acc=ctx.teacher_test_acc,
        gap=(ctx.teacher_test_acc - test_acc) if test_acc is not None else None,
        student_params=sum(m.params for m in ens.members), student_flops=ens.flops,
        wall_time_s=wall,
        error=None if members else f"no res-student was added (stop reason: {stop_reason})",
        extra={"res_students": members, "stop_reason": stop_reason, "adaptive": adaptive,
               "teacher_flops": ens.teacher_flops, "flops_frac": ens.flops_frac,
               "energy_ratio": ens.energy_ratio("val"), "backend": backend,
               "strategy": strategy if backend == "nni" else "optuna-tpe",
               "nni_experiments": nni_ids, "config": cfg.model_dump(mode="json")})
    run_one(PlannedTrial("ensemble", None, {"members": len(members)}, role="reskd",
                         method="reskd", run=lambda: result), ctx.store, ctx.experiment_id)
    return ReskdSummary(name, backend, stop_reason, members, ctx.teacher_test_acc, test_acc,
                        ens.flops_frac, adaptive, nni_ids)


