"""The train/evaluate loop, written plainly: one optimizer, one schedule, on-device batches."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from kd_automl.data import DeviceLoader
from kd_automl.data.augment import apply_flips, augment_batch, draw_flips, strong_augment
from kd_automl.distill.base import Distiller, TeacherOutput
from kd_automl.engine.checkpoint import Checkpoint, rng_state, set_rng_state
from kd_automl.engine.device import autocast, prepare_inputs, prepare_model
from kd_automl.errors import TrialDiverged
from kd_automl.models.base import model_features
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


@torch.no_grad()
def teacher_forward(teacher: nn.Module, x: torch.Tensor, features: bool | str,
                    device: torch.device) -> TeacherOutput:
    """The frozen teacher on one batch: float32 logits, and its features when asked for
    (``"blocks"``: every residual block's output; ``"class_map"``: the classifier at every
    position of the last map too; see :func:`model_features`)."""
    with autocast(device):
        if features:
            logits, feats = model_features(teacher, x, features)
            return TeacherOutput(logits.float(), [f.float() for f in feats])
        return TeacherOutput(teacher(x).float())


class BatchStream:
    """The training batches of one run: a seeded order, on-device augmentation, and the
    teacher's outputs for each batch.

    The teacher comes one of two ways. ``teacher_logits`` (aligned with ``x``)
    are its outputs computed once: the fast path, valid when the method needs
    logits alone and inputs are not augmented, or only flipped (then
    ``teacher_logits_flipped`` holds the outputs for the flipped images and each
    batch picks the view it drew). Otherwise the frozen ``teacher`` runs on every
    (augmented) batch under ``no_grad``, with its features when
    ``needs_features``. One stream can feed several students (a fused group):
    every batch's teacher outputs are computed once. With ``strong_view`` every batch also
    gets a second, strongly augmented view and the teacher's logits on it
    (``TeacherOutput.strong``; see :class:`Distiller`).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, budget: TrainSpec,
                 device: torch.device, *, needs_features: bool = False,
                 teacher: nn.Module | None = None, teacher_logits: torch.Tensor | None = None,
                 teacher_logits_flipped: torch.Tensor | None = None, seed: int = 0,
                 strong_view: bool = False):
        self.flip_cache = teacher_logits_flipped is not None and budget.augment == "flip"
        if teacher_logits is not None and budget.augment != "none" and not self.flip_cache:
            raise ValueError("precomputed teacher logits cannot be used with augmented inputs "
                             "(except flip, given the logits of the flipped images too)")
        if teacher_logits is not None and needs_features:
            raise ValueError("this method needs the teacher's features: pass the teacher")
        if strong_view and teacher is None:
            raise ValueError("this method needs the teacher on a strong view: pass the teacher")
        self.strong_view = strong_view
        self.x, self.budget, self.device = x, budget, device
        self.needs_features, self.teacher = needs_features, teacher
        self.teacher_logits = teacher_logits
        tensors = (x, y) if teacher_logits is None else (x, y, teacher_logits)
        if self.flip_cache:
            tensors = (*tensors, teacher_logits_flipped)
        self.loader = DeviceLoader(*tensors, batch_size=budget.batch_size, shuffle=True,
                                   seed=seed, device=device)
        self.aug_gen = torch.Generator().manual_seed(seed + 1)

    def __len__(self) -> int:
        return len(self.loader)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Where the batch order and the augmentation draws are (a checkpoint saves it)."""
        return {"order": self.loader.generator_state(), "augment": self.aug_gen.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.loader.set_generator_state(state["order"])
        self.aug_gen.set_state(state["augment"])

    def probe(self) -> tuple[torch.Tensor, TeacherOutput | None]:
        """The first (un-augmented) batch and its teacher outputs, for ``Distiller.setup``."""
        n = self.budget.batch_size
        probe = prepare_inputs(self.x[:n], self.device)
        if self.teacher_logits is not None:
            return probe, TeacherOutput(self.teacher_logits[:n].to(self.device).float())
        if self.teacher is not None:
            return probe, teacher_forward(self.teacher, probe, self.needs_features, self.device)
        return probe, None

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, TeacherOutput | None]]:
        """One epoch of ``(inputs, labels, teacher outputs)``."""
        for batch in self.loader:
            yb, flips = batch[1], None
            if self.flip_cache:  # the same draws as augment_batch(x, "flip"): the cached view
                flips = draw_flips(len(yb), self.aug_gen, batch[0].device)
                xb = apply_flips(batch[0], flips)
            else:
                xb = augment_batch(batch[0], self.budget.augment, self.aug_gen,
                                   self.budget.crop_padding)
            xb = prepare_inputs(xb, self.device)
            if flips is not None:
                t_out = TeacherOutput(torch.where(flips[:, None], batch[3], batch[2]))
            elif self.teacher_logits is not None:
                t_out = TeacherOutput(batch[2])
            elif self.teacher is not None:
                t_out = teacher_forward(self.teacher, xb, self.needs_features, self.device)
            else:
                t_out = None
            if self.strong_view:  # its own crop/flip draws, then RandAugment's
                xs = strong_augment(augment_batch(batch[0], self.budget.augment, self.aug_gen,
                                                  self.budget.crop_padding), self.aug_gen)
                xs = prepare_inputs(xs, self.device)
                t_out.strong = (xs, teacher_forward(self.teacher, xs, False, self.device).logits)
            yield xb, yb, t_out


def prepare_distiller(distiller: Distiller, stream: BatchStream, device: torch.device,
                      budget: TrainSpec | None = None
                      ) -> tuple[Distiller, torch.optim.Optimizer, object]:
    """Set the distiller up on one probe batch (so the modules it adds are trained too), move
    it to ``device`` in train mode, and build its optimizer and schedule (from ``budget``,
    default: the stream's)."""
    budget = budget or stream.budget
    distiller.to(device)
    probe, t_probe = stream.probe()
    distiller.eval()
    with torch.no_grad():
        distiller.setup(probe, t_probe)
    distiller = prepare_model(distiller, device)
    distiller.train()
    optimizer = make_optimizer([p for p in distiller.parameters() if p.requires_grad], budget)
    return distiller, optimizer, make_schedule(optimizer, budget)


class LossMeter:
    """Running sums of a loss and its named terms over one epoch (kept on the device)."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0

    def add(self, loss: torch.Tensor, parts: dict[str, torch.Tensor]) -> None:
        for name, value in {"loss": loss, **parts}.items():
            v = value.detach().float()
            self.sums[name] = self.sums[name] + v if name in self.sums else v
        self.steps += 1

    def close(self, epoch: int) -> dict[str, float]:
        """``{train_<term>: mean}`` for the epoch; :class:`TrialDiverged` when one is not
        finite. Resets the meter."""
        metrics = {f"train_{k}": (v / max(self.steps, 1)).item() for k, v in self.sums.items()}
        self.sums, self.steps = {}, 0
        if not all(map(math.isfinite, metrics.values())):
            raise TrialDiverged(f"loss is not finite at epoch {epoch} "
                                f"({', '.join(f'{k}={v:.4g}' for k, v in metrics.items())})")
        return metrics


def fit(distiller: Distiller, x_train: torch.Tensor, y_train: torch.Tensor, budget: TrainSpec,
        device: torch.device, *, teacher: nn.Module | None = None,
        teacher_logits: torch.Tensor | None = None,
        teacher_logits_flipped: torch.Tensor | None = None,
        val: tuple[torch.Tensor, torch.Tensor] | None = None, seed: int = 0,
        on_epoch: EpochCallback | None = None,
        checkpoint: Checkpoint | None = None) -> list[dict[str, float]]:
    """Train ``distiller`` for ``budget.epochs``; returns one metrics dict per epoch.

    The batches, their order (``seed``), augmentation and the teacher's outputs
    come from a :class:`BatchStream` (see there for the two teacher paths).
    ``budget.augment`` is applied to every training batch on the device. Each
    epoch logs ``train_<term>`` for every loss term, and ``val_acc`` (plus
    ``val_acc_<member>`` for multi-model methods).
    Raises :class:`TrialDiverged` when a loss is not finite. With ``checkpoint``, the run
    continues from its saved state (the restored epochs are handed to ``on_epoch`` again, so
    a reporter and its pruner see the whole curve) and saves when the checkpoint is due.
    """
    try:
        stream = BatchStream(x_train, y_train, budget, device,
                             needs_features=distiller.needs_features, teacher=teacher,
                             teacher_logits=teacher_logits,
                             teacher_logits_flipped=teacher_logits_flipped, seed=seed,
                             strong_view=distiller.strong_view)
    except ValueError as err:
        raise ValueError(f"{distiller.name}: {err}") from None
    distiller, optimizer, schedule = prepare_distiller(distiller, stream, device)
    curve: list[dict[str, float]] = []
    meter = LossMeter()
    run_state = (distiller, optimizer, schedule, stream)
    start = 1
    if checkpoint is not None and (state := checkpoint.load()) is not None:
        start = _restore(state, *run_state) + 1
        for metrics in state["curve"]:
            curve.append(metrics)
            if on_epoch is not None:
                on_epoch(int(metrics["epoch"]), metrics)
    for epoch in range(start, budget.epochs + 1):
        distiller.epoch = epoch
        for xb, yb, t_out in stream:
            with autocast(device):
                loss, parts = distiller.loss((xb, yb), t_out)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            meter.add(loss, parts)
        schedule.step()
        metrics = meter.close(epoch)
        metrics["lr"] = optimizer.param_groups[0]["lr"]
        if val is not None:
            metrics.update(evaluate_members(distiller, val[0], val[1], device, prefix="val_acc"))
        metrics["epoch"] = epoch
        curve.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if checkpoint is not None and checkpoint.due(epoch, budget.epochs):
            checkpoint.save(epoch, _state(curve, *run_state))
    return curve


def _state(curve, distiller, optimizer, schedule, stream: BatchStream) -> dict:
    """Everything the epochs still to come depend on (see :mod:`kd_automl.engine.checkpoint`)."""
    return {"distiller": distiller.state_dict(), "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(), "stream": stream.state_dict(),
            "rng": rng_state(), "curve": [dict(m) for m in curve]}


def _restore(state: dict, distiller, optimizer, schedule, stream: BatchStream) -> int:
    """Load a checkpoint's state into the run; returns the epoch it was saved after."""
    distiller.load_state_dict(state["distiller"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    stream.load_state_dict(state["stream"])
    set_rng_state(state["rng"])
    return int(state["epoch"])


def member_accuracies(distiller: Distiller, x: torch.Tensor, y: torch.Tensor,
                      device: torch.device) -> dict[str, float]:
    """Top-1 accuracy of every member model of ``distiller`` (just the student for most)."""
    return {k: evaluate(m, x, y, device) for k, m in distiller.members().items()}


def evaluate_members(distiller: Distiller, x: torch.Tensor, y: torch.Tensor,
                     device: torch.device, prefix: str) -> dict[str, float]:
    """``{prefix: headline accuracy}``, plus ``{prefix}_<member>`` when there are several."""
    accs = member_accuracies(distiller, x, y, device)
    out = {prefix: accs[distiller.headline(accs)]}
    if len(accs) > 1:
        out |= {f"{prefix}_{k}": v for k, v in accs.items()}
    return out

