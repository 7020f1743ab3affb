"""k students of one architecture run as one batched model (``torch.func.vmap``).

Each member stays a plain ``nn.Module`` with its own parameters (so its own
optimizer steps them exactly as it would alone). A forward stacks the members'
parameters and runs the architecture once under ``vmap``, on one shared input
batch. BatchNorm running statistics live in one stacked buffer per layer that
``vmap`` updates in place; every member's buffers are views into it, so a
member's state dict is always its own, current model.

>>> students = [build_model("cnn", (1, 8, 8), 10) for _ in range(4)]   # doctest: +SKIP
>>> fused = fused_students(students[0]); fused.bind(students)          # doctest: +SKIP
>>> logits, feats = fused(x)  # (4, N, 10) and one (4, N, ...) per feature  # doctest: +SKIP
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, vmap


class NotFusable(Exception):
    """The architecture (or method) cannot be trained as a fused group; the reason is the
    message."""


class FusedStudents:
    """The forward pass of a list of same-architecture students, batched over members."""

    def __init__(self, template: nn.Module):
        self.template = copy.deepcopy(template).to("meta")  # the code, never the weights
        self.template.forward = self.template.forward_features  # logits and features
        self.param_names = [n for n, _ in template.named_parameters()]
        self.buffer_names = [n for n, _ in template.named_buffers()]
        self.students: list[nn.Module] = []
        self.buffers: dict[str, torch.Tensor] = {}
        self._call = vmap(self._one, in_dims=(0, 0, None), randomness="different")

    def _one(self, params: dict, buffers: dict, x: torch.Tensor):
        return functional_call(self.template, (params, buffers), (x,), strict=True)

    def bind(self, students: list[nn.Module]) -> None:
        """Make ``students`` the members (in this order); their buffers become views."""
        self.students = list(students)
        if not self.students:
            self.buffers = {}
            return
        for name in self.buffer_names:
            stacked = torch.stack([s.get_buffer(name).detach() for s in self.students])
            self.buffers[name] = stacked
            module_name, _, attr = name.rpartition(".")
            for i, s in enumerate(self.students):
                s.get_submodule(module_name)._buffers[attr] = stacked[i]

    def train(self, mode: bool = True) -> None:
        self.template.train(mode)
        for s in self.students:
            s.train(mode)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits (k, N, C), [features (k, N, ...)])`` of every member on the batch ``x``."""
        params = {n: torch.stack([s.get_parameter(n) for s in self.students])
                  for n in self.param_names}
        return self._call(params, self.buffers, x)


def fused_students(template: nn.Module) -> FusedStudents:
    """A :class:`FusedStudents` for ``template``'s architecture; :class:`NotFusable` when it
    has no ``forward_features`` (see :func:`check_fusable` for the rest)."""
    if not hasattr(template, "forward_features"):
        raise NotFusable(f"{type(template).__name__} does not expose forward_features()")
    return FusedStudents(template)


@torch.no_grad()
def check_fusable(fused: FusedStudents, student: nn.Module, probe: torch.Tensor) -> None:
    """Run ``student`` alone and as a one-member group on ``probe`` (eval mode): the outputs
    must agree, else :class:`NotFusable`."""
    was_training = student.training
    clone = copy.deepcopy(student).eval()
    fused.bind([clone])
    fused.train(False)
    try:
        logits, _ = fused(probe)
    except Exception as err:  # an op vmap cannot batch, a reshape across members...
        raise NotFusable(f"{type(student).__name__} cannot be batched over members "
                         f"({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    finally:
        fused.bind([])
        student.train(was_training)
    alone = clone(probe)
    if not torch.allclose(logits[0].float(), alone.float(), rtol=1e-3, atol=1e-3):
        raise NotFusable(f"{type(student).__name__} gives different outputs when batched over "
                         "members")
