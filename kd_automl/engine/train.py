"""The train/evaluate loop, written plainly: one optimizer, one schedule, on-device batches."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from kd_automl.data import DeviceLoader
from kd_automl.distill.base import Distiller, TeacherOutput
from kd_automl.engine.device import autocast
from kd_automl.errors import TrialDiverged
from kd_automl.spec import TrainSpec

EpochCallback = Callable[[int, dict[str, float]], None]


def make_optimizer(params, budget: TrainSpec) -> torch.optim.Optimizer:
    if budget.optimizer == "sgd":
        return torch.optim.SGD(params, lr=budget.lr, momentum=budget.momentum,
                               nesterov=budget.nesterov and budget.momentum > 0,
                               weight_decay=budget.weight_decay)
    cls = torch.optim.Adam if budget.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=budget.lr, weight_decay=budget.weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, budget: TrainSpec):
    if budget.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=budget.epochs)
    if budget.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, budget.milestones, budget.gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
             batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for xb, yb in DeviceLoader(x, y, batch_size=batch_size, device=device):
        with autocast(device):
            correct += (model(xb).argmax(1) == yb).sum()
    model.train(was_training)
    return correct.item() / max(len(y), 1)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, device: torch.device,
                   batch_size: int = 1024) -> torch.Tensor:
    """The model's float32 logits for every row of ``x``, in order, on ``device``."""
    model.eval()
    out = []
    for (xb,) in DeviceLoader(x, batch_size=batch_size, device=device):
        with autocast(device):
            out.append(model(xb).float())
    return torch.cat(out)


def fit(distiller: Distiller, x_train: torch.Tensor, y_train: torch.Tensor, budget: TrainSpec,
        device: torch.device, *, teacher_logits: torch.Tensor | None = None,
        val: tuple[torch.Tensor, torch.Tensor] | None = None, seed: int = 0,
        on_epoch: EpochCallback | None = None) -> list[dict[str, float]]:
    """Train ``distiller`` for ``budget.epochs``; returns one metrics dict per epoch.

    ``teacher_logits`` (aligned with ``x_train``) are the teacher's outputs,
    computed once: inputs are not augmented, so every epoch would see the same.
    Raises :class:`TrialDiverged` when a loss is not finite.
    """
    distiller.to(device).train()
    optimizer = make_optimizer([p for p in distiller.parameters() if p.requires_grad], budget)
    schedule = make_schedule(optimizer, budget)
    tensors = (x_train, y_train) if teacher_logits is None else (x_train, y_train, teacher_logits)
    loader = DeviceLoader(*tensors, batch_size=budget.batch_size, shuffle=True, seed=seed,
                          device=device)
    curve: list[dict[str, float]] = []
    for epoch in range(1, budget.epochs + 1):
        sums: dict[str, torch.Tensor] = {}
        steps = 0
        for batch in loader:
            xb, yb = batch[0], batch[1]
            t_out = TeacherOutput(batch[2]) if teacher_logits is not None else None
            with autocast(device):
                loss, parts = distiller.loss((xb, yb), t_out)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in {"loss": loss, **parts}.items():
                v = value.detach().float()
                sums[name] = sums[name] + v if name in sums else v
            steps += 1
        schedule.step()
        metrics = {f"train_{k}": (v / steps).item() for k, v in sums.items()}
        if not all(map(_finite, metrics.values())):
            raise TrialDiverged(f"loss is not finite at epoch {epoch} "
                                f"({', '.join(f'{k}={v:.4g}' for k, v in metrics.items())})")
        metrics["lr"] = optimizer.param_groups[0]["lr"]
        if val is not None:
            metrics["val_acc"] = evaluate(distiller, val[0], val[1], device)
        metrics["epoch"] = epoch
        curve.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
    return curve


def _finite(v: float) -> bool:
    return v == v and v not in (float("inf"), float("-inf"))
