"""Fused trials: k students trained in one step against one teacher, refilled as they leave.

A search runs hundreds of trainings of one small student against one fixed
teacher; alone, each is launch-bound. A :class:`FusedGroup` trains up to
``capacity`` members at once. Every batch is drawn, augmented and passed
through the teacher once; the members' students run as one batched model
(:mod:`kd_automl.engine.fused_students`); each member computes its own loss
with its own hyperparameters and is stepped by its own optimizer and schedule,
so it is exactly the model it would be trained alone on the same batches (its
BatchNorm statistics and, for stochastic methods, its random stream included).
At every epoch's end each member reports to its reporter (which may prune it),
and a pruned, diverged or finished member leaves; :meth:`FusedGroup.run`
refills its slot at once from a callback, the way a batching server keeps its
batch full.

Members share everything but the method's hyperparameters and the ``train``
recipe (``lr``, ``momentum``, ``weight_decay``, optimizer, schedule, epochs and
``train.seed``, the student's initialisation); :func:`group_key` says what must
be equal. All members see the group's batch order (the spec's ``seed``), so one
that joins later starts on the group's current epoch of that stream.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from kd_automl.distill import get_method
from kd_automl.distill.base import Distiller
from kd_automl.engine.checkpoint import Checkpoint, rng_state, set_rng_state
from kd_automl.engine.device import autocast, pick_device
from kd_automl.engine.fused_students import NotFusable, check_fusable, fused_students
from kd_automl.engine.reporters import Reporter
from kd_automl.engine.result import TrialResult
from kd_automl.engine.teacher import load_teacher, teacher_args
from kd_automl.engine.train import BatchStream, LossMeter, evaluate_members, prepare_distiller
from kd_automl.engine.trial import (
    TrainedStudent,
    build_distiller,
    get_dataset,
    record_accuracy,
    record_profile,
    trained_student,
)
from kd_automl.errors import KDAutoMLError, TrialDiverged, TrialPruned
from kd_automl.spec import ExperimentSpec
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

# the train fields a member may set for itself (its optimizer, schedule and length)
MEMBER_TRAIN_FIELDS = ("epochs", "optimizer", "lr", "momentum", "nesterov", "weight_decay",
                       "schedule", "milestones", "gamma", "seed")


def group_key(spec: ExperimentSpec) -> str:
    """What members of one group share: the spec without the method's hyperparameters and the
    member's own training recipe (the teacher's recipe stays, so the teacher is shared)."""
    data = spec.to_dict()
    data["teacher_train"] = spec.teacher_budget.model_dump(mode="json", exclude={"seed"})
    data["method"] = {"name": spec.method.name}
    data["train"] = {k: v for k, v in data["train"].items() if k not in MEMBER_TRAIN_FIELDS}
    for k in ("name", "search", "objective", "pruner", "fuse"):
        data.pop(k, None)
    return json.dumps(data, sort_keys=True)


def fusable_method(name: str) -> str | None:
    """Why method ``name`` cannot run fused, or ``None`` when it can."""
    cls = get_method(name)
    if not cls.fusable:
        return (f"method {name!r} reads more than the student's logits on the group's batch "
                "(another view, the classifier's input, several models or a reshaped student), "
                "so its members cannot train as one fused step")
    return None


@dataclass
class Member:
    """One trial of the group: its spec, its reporter, and its training state."""

    key: Hashable
    spec: ExperimentSpec
    reporter: Reporter
    result: TrialResult = field(default_factory=TrialResult)
    distiller: Distiller | None = None
    optimizer: torch.optim.Optimizer | None = None
    schedule: Any = None
    epoch: int = 0
    joined_epoch: int = 0
    started: float = field(default_factory=time.perf_counter)
    rng: tuple[torch.Tensor, torch.Tensor | None] | None = None
    meter: LossMeter = field(default_factory=LossMeter)
    checkpoint: Checkpoint | None = None

    @property
    def done(self) -> bool:
        return self.epoch >= self.spec.train.epochs


class _Outputs(nn.Module):
    """Stands in for a member's student inside its method's loss: the fused outputs."""

    def __init__(self):
        super().__init__()
        self.logits: torch.Tensor | None = None
        self.feats: list[torch.Tensor] = []

    def forward(self, x):
        return self.logits

    def forward_features(self, x):
        return self.logits, self.feats


@contextlib.contextmanager
def _own_rng(member: Member, device: torch.device):
    """Run the block on ``member``'s random stream (for stochastic methods), as if alone."""
    if member.rng is None:
        yield
        return
    cpu, cuda = member.rng
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)
    try:
        yield
    finally:
        member.rng = (torch.get_rng_state(),
                      torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


Done = Callable[[Hashable, TrialResult], None]
StudentDone = Callable[[Hashable, TrainedStudent], None]
# (key, spec, reporter) or (key, spec, reporter, checkpoint); None: nothing to add now
NextMember = Callable[[], "tuple | None"]


class FusedGroup:
    """Up to ``capacity`` trials of specs with one :func:`group_key`, trained in one step.

    ``spec`` fixes what members share; the group loads its data, its teacher
    (from the cache) and its batch stream once.
    Raises :class:`NotFusable` when the method or the architecture cannot fuse.
    ``on_student(key, trained)``, when set, hears each completed member's trained student
    just before its result is handed to ``on_done``.
    """

    on_student: StudentDone | None = None

    def __init__(self, spec: ExperimentSpec, workspace: Workspace, capacity: int,
                 device: str | torch.device | None = None):
        reason = fusable_method(spec.method.name)
        if reason:
            raise NotFusable(reason)
        if capacity < 1:
            raise KDAutoMLError("fuse must be >= 1")
        self.spec, self.capacity = spec, capacity
        self.key = group_key(spec)
        self.device = pick_device(str(device) if device is not None else None)
        self.method = get_method(spec.method.name)
        self.data = get_dataset(spec).to(self.device)
        self._shared = TrialResult()  # what every member's result starts from
        teacher = load_teacher(spec, self.data, workspace, self.device, self._shared)
        self.stream = BatchStream(self.data.x_train, self.data.y_train, spec.train, self.device,
                                  needs_features=self.method.needs_features,
                                  **teacher_args(teacher, spec, self.data, self.device),
                                  seed=spec.seed)
        probe_distiller = build_distiller(spec, self.data, self.device)
        record_profile(self._shared, probe_distiller.student, self.data)
        self.students = fused_students(probe_distiller.student)
        check_fusable(self.students, probe_distiller.student, self.stream.probe()[0])
        self.members: list[Member] = []
        self.epoch = 0  # epochs of the batch stream run so far
        self._left: list[tuple[Member, TrialResult]] = []  # crashed during this epoch
        self._outputs = _Outputs()

    # ---- membership -------------------------------------------------------------------

    def add(self, key: Hashable, spec: ExperimentSpec, reporter: Reporter,
            checkpoint: Checkpoint | None = None) -> Member:
        """Build the member's student (seeded as alone), set up its method and optimizer.

        With ``checkpoint``, a member saved by an earlier group continues from its state (the
        restored epochs are reported again; :class:`TrialPruned` when its pruner stops it
        there). The first member of a new group also restores the batch stream's position,
        so a whole group that was stopped continues as it would have."""
        if len(self.members) >= self.capacity:
            raise RuntimeError("the group is full")
        if group_key(spec) != self.key:
            raise KDAutoMLError("this trial differs from its fused group in a shared field "
                                "(dataset, teacher, student, method, batch size, augmentation "
                                "or seed)")
        member = Member(key, spec, reporter, result=copy.deepcopy(self._shared),
                        joined_epoch=self.epoch)
        distiller = build_distiller(spec, self.data, self.device)
        member.distiller, member.optimizer, member.schedule = prepare_distiller(
            distiller, self.stream, self.device, spec.train)
        if self.method.stochastic:  # its draws continue from where its setup left the stream
            member.rng = (torch.get_rng_state(), torch.cuda.get_rng_state(self.device)
                          if self.device.type == "cuda" else None)
        member.checkpoint = checkpoint
        if checkpoint is not None and (state := checkpoint.load()) is not None:
            self._restore(member, state)
        self.members.append(member)
        self._bind()
        return member

    def _restore(self, member: Member, state: dict) -> None:
        member.distiller.load_state_dict(state["distiller"])
        member.optimizer.load_state_dict(state["optimizer"])
        member.schedule.load_state_dict(state["schedule"])
        if state.get("member_rng") is not None and member.rng is not None:
            member.rng = state["member_rng"]
        if not self.members and self.epoch == 0:  # a new group: where its stream was
            self.stream.load_state_dict(state["stream"])
            set_rng_state(state["rng"])
            self.epoch = int(state["group_epoch"])
        member.epoch = int(state["epoch"])
        member.joined_epoch = self.epoch - member.epoch
        for metrics in state["curve"]:
            member.result.curve.append(metrics)
            member.reporter.report_epoch(int(metrics["epoch"]), metrics)

    def _save(self, member: Member) -> None:
        """The member's checkpoint after its epoch, with the stream's place after it."""
        member.checkpoint.save(member.epoch, {  # copies: a bound member's tensors are views
            "distiller": {k: v.detach().clone() for k, v in
                          member.distiller.state_dict().items()},
            "optimizer": member.optimizer.state_dict(),
            "schedule": member.schedule.state_dict(), "member_rng": member.rng,
            "stream": self.stream.state_dict(), "rng": rng_state(),
            "group_epoch": self.epoch, "curve": [dict(m) for m in member.result.curve]})

    def _bind(self) -> None:
        self.students.bind([m.distiller.student for m in self.members])

    def _leave(self, member: Member, status: str, error: str | None = None) -> TrialResult:
        result = member.result
        result.status = status
        result.error = error
        if status == "pruned" and result.curve:
            result.student_val_acc = result.curve[-1].get("val_acc")
        result.wall_time_s = time.perf_counter() - member.started
        result.extra["fused"] = {"capacity": self.capacity, "joined_epoch": member.joined_epoch}
        self.members.remove(member)
        return result

    # ---- training ---------------------------------------------------------------------

    def run(self, next_member: NextMember, on_done: Done) -> None:
        """Train until ``next_member`` has no more trials and every member has left.

        Before every epoch the free slots are filled from ``next_member()``
        (``(key, spec, reporter)``, or ``None`` when there is nothing to add now).
        Each member that leaves is handed to ``on_done(key, result)``.
        """
        while True:
            while len(self.members) < self.capacity:
                item = next_member()
                if item is None:
                    break
                key, spec, reporter, *rest = item
                try:
                    self.add(key, spec, reporter, *rest)
                except TrialPruned:  # its pruner stopped it on the restored curve
                    on_done(key, TrialResult(status="pruned"))
                except torch.cuda.OutOfMemoryError as err:
                    on_done(key, TrialResult(status="failed", error="out of memory: "
                                             f"{str(err).splitlines()[0]}"))
                except KDAutoMLError as err:
                    on_done(key, TrialResult(status="failed", error=str(err)))
                except Exception as err:  # a member that cannot be built fails alone
                    log.warning("trial crashed: %s: %s", type(err).__name__, err)
                    on_done(key, TrialResult(status="failed",
                                             error=f"{type(err).__name__}: {err}"))
            if not self.members:
                return
            for member, result in self.run_epoch():
                member.reporter.report_final(result)
                on_done(member.key, result)

    def run_epoch(self) -> list[tuple[Member, TrialResult]]:
        """One pass over the batch stream for every member; returns the members that left."""
        try:
            self._train_epoch()
        except torch.cuda.OutOfMemoryError as err:
            reason = f"out of memory (fused group of {len(self.members)}): " \
                     f"{str(err).splitlines()[0]}"
            return [(m, self._leave(m, "failed", reason)) for m in list(self.members)]
        self.epoch += 1
        left, self._left = self._left, []
        for member in list(self.members):
            outcome = self._close_epoch(member)
            if outcome is not None:
                left.append((member, self._leave(member, *outcome)))
        self._bind()
        return left

    def _train_epoch(self) -> None:
        for m in self.members:
            m.distiller.epoch = m.epoch + 1
            m.distiller.train()
        self.students.train(True)
        for xb, yb, t_out in self.stream:
            self._step(xb, yb, t_out)

    def _step(self, xb: torch.Tensor, yb: torch.Tensor, t_out) -> None:
        with autocast(self.device):
            logits, feats = self.students(xb)
        total, crashed = None, []
        for i, m in enumerate(self.members):
            self._outputs.logits, self._outputs.feats = logits[i], [f[i] for f in feats]
            student = m.distiller._modules["student"]
            m.distiller._modules["student"] = self._outputs
            try:
                with _own_rng(m, self.device), autocast(self.device):
                    loss, parts = m.distiller.loss((xb, yb), t_out)
            except torch.cuda.OutOfMemoryError:
                raise
            except Exception as err:  # this member's loss crashed: it leaves, the rest go on
                crashed.append((m, f"{type(err).__name__}: {err}"))
                continue
            finally:
                m.distiller._modules["student"] = student
            m.meter.add(loss, parts)
            total = loss if total is None else total + loss
        for m in self.members:
            m.optimizer.zero_grad(set_to_none=True)
        if total is not None:
            total.backward()
            for m in self.members:
                m.optimizer.step()
        for m, error in crashed:
            log.warning("trial crashed: %s", error)
            self._left.append((m, self._leave(m, "failed", error)))
        if crashed:
            self._bind()

    def _close_epoch(self, member: Member) -> tuple[str, str | None] | None:
        """End the member's epoch: metrics, report, and whether (and how) it leaves."""
        member.epoch += 1
        member.schedule.step()
        try:
            metrics = member.meter.close(member.epoch)
        except TrialDiverged as err:
            return "failed", f"diverged: {err}"
        metrics["lr"] = member.optimizer.param_groups[0]["lr"]
        metrics.update(evaluate_members(member.distiller, self.data.x_val, self.data.y_val,
                                        self.device, prefix="val_acc"))
        metrics["epoch"] = member.epoch
        member.result.curve.append(metrics)
        try:
            member.reporter.report_epoch(member.epoch, metrics)
        except TrialPruned:
            return "pruned", None
        if member.done:
            record_accuracy(member.result, member.distiller, self.data, self.device)
            if self.on_student is not None and (student := trained_student(
                    member.spec, member.distiller, self.data,
                    member.result.extra.get("headline"))) is not None:
                self.on_student(member.key, student)
            return "complete", None
        if member.checkpoint is not None and member.checkpoint.due(member.epoch,
                                                                   member.spec.train.epochs):
            self._save(member)
        return None

    def running(self) -> list[Hashable]:
        """Keys of the members training now."""
        return [m.key for m in self.members]
