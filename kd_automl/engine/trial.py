"""One trial: data -> teacher (cached) -> student -> distiller -> train -> TrialResult."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from kd_automl.data import Dataset, load_dataset
from kd_automl.distill import get_method
from kd_automl.distill.base import Distiller, Head
from kd_automl.engine.checkpoint import Checkpoint
from kd_automl.engine.device import pick_device, prepare_model, seed_everything
from kd_automl.engine.reporters import NullReporter, Reporter
from kd_automl.engine.result import TrialResult
from kd_automl.engine.teacher import load_teacher, teacher_args
from kd_automl.engine.train import fit, member_accuracies
from kd_automl.errors import KDAutoMLError, TrialDiverged, TrialPruned
from kd_automl.models import build_model, profile
from kd_automl.spec import ExperimentSpec
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class TrainedStudent:
    """A trial's trained student, handed back to whoever ran the trial (the runner keeps its
    weights or not): the module, its model spec (``{"arch": ..., **sizes}``) and its data."""

    model: torch.nn.Module
    model_spec: dict[str, Any]
    input_shape: tuple[int, ...]
    num_classes: int


StudentSink = Callable[[TrainedStudent], None]


def trained_student(spec: ExperimentSpec, distiller: Distiller, data: Dataset,
                    headline: str | None = None) -> TrainedStudent | None:
    """The trial's headline student as a model the spec's student section rebuilds, or None
    when it is not one (a method that reshapes the student, or a headline that is an exit or
    a booster head rather than a plain model)."""
    if type(distiller).build_student.__func__ is not Distiller.build_student.__func__:
        return None
    members = distiller.members()
    model = members.get(headline) if headline else next(iter(members.values()))
    if model is None or isinstance(model, Head):
        return None
    return TrainedStudent(model, {"arch": spec.student.arch, **spec.student.options},
                          tuple(data.input_shape), int(data.num_classes))


@lru_cache(maxsize=8)
def _dataset(name: str, options: tuple, seed: int, val: float, test: float) -> Dataset:
    return load_dataset(name, dict(options), seed=seed, val_fraction=val, test_fraction=test)


def get_dataset(spec: ExperimentSpec) -> Dataset:
    d = spec.dataset
    return _dataset(d.name, tuple(sorted(d.options.items())), spec.seed, d.val_fraction,
                    d.test_fraction)


def run_trial(spec: ExperimentSpec, workspace: Workspace, reporter: Reporter | None = None,
              device: str | torch.device | None = None,
              on_student: StudentSink | None = None,
              checkpoint: Checkpoint | None = None) -> TrialResult:
    """Run one trial of ``spec`` (sampled values already written in).

    Never raises for a failing trial: the result's ``status`` is ``failed`` with
    the reason in ``error`` (or ``pruned`` when the reporter pruned it). ``on_student``
    hears the trained student (:class:`TrainedStudent`) of a trial that completed; with
    ``checkpoint`` the student's training continues from, and saves, its checkpoint.
    """
    reporter = reporter or NullReporter()
    device = pick_device(str(device) if device is not None else None)
    result = TrialResult()
    start = time.perf_counter()
    try:
        _run(spec, workspace, reporter, device, result, on_student, checkpoint)
    except TrialPruned:
        result.status = "pruned"
    except TrialDiverged as err:
        result.status, result.error = "failed", f"diverged: {err}"
    except torch.cuda.OutOfMemoryError as err:
        result.status, result.error = "failed", f"out of memory: {str(err).splitlines()[0]}"
    except KDAutoMLError as err:
        result.status, result.error = "failed", str(err)
    except Exception as err:  # a crashing trial is recorded, never takes the search down
        result.status, result.error = "failed", f"{type(err).__name__}: {err}"
        result.extra["traceback"] = traceback.format_exc(limit=20)
        log.warning("trial crashed: %s", result.error)
    result.wall_time_s = time.perf_counter() - start
    if result.status == "pruned" and result.curve:
        result.student_val_acc = result.curve[-1].get("val_acc")
    reporter.report_final(result)
    return result


def build_distiller(spec: ExperimentSpec, data: Dataset, device: torch.device):
    """The spec's student, initialised from its seed (``train.seed``, else the spec's), wrapped
    in its method's distiller on ``device``."""
    method_cls = get_method(spec.method.name)
    seed_everything(init_seed(spec))
    student = build_model(spec.student.arch, data.input_shape, data.num_classes,
                          where="student", **spec.student.options)
    student = prepare_model(method_cls.build_student(student, **spec.method.options), device)
    return method_cls(student, **spec.method.options)


def init_seed(spec: ExperimentSpec) -> int:
    """The seed of the student's initialisation (and of a method's noise)."""
    return spec.train.seed if spec.train.seed is not None else spec.seed


_PROFILES: dict[tuple, object] = {}  # per architecture, input shape and device
_MAX_PROFILES = 64


def record_profile(result: TrialResult, student, data: Dataset) -> None:
    """The student's params, FLOPs and latency (measured on its device) into ``result``;
    measured once per architecture (the module's layers), input shape and device in a
    process: the trials of a search share it (``benchmarks/trial_overhead.py``)."""
    device = next(student.parameters(), torch.zeros(0)).device
    key = (repr(student), tuple(data.input_shape), str(device))
    prof = _PROFILES.get(key)
    if prof is None:
        prof = profile(student, data.input_shape)
        if len(_PROFILES) >= _MAX_PROFILES:
            _PROFILES.pop(next(iter(_PROFILES)))
        _PROFILES[key] = prof
    result.student_params, result.student_flops = prof.params, prof.flops
    result.student_latency_ms = prof.latency_ms


def record_accuracy(result: TrialResult, distiller, data: Dataset, device: torch.device) -> None:
    """Validation and test accuracy of the trained distiller (every member, the headline)."""
    val_acc = member_accuracies(distiller, data.x_val, data.y_val, device)
    test_acc = member_accuracies(distiller, data.x_test, data.y_test, device)
    head = distiller.headline(val_acc)
    result.student_val_acc, result.student_test_acc = val_acc[head], test_acc[head]
    if len(test_acc) > 1:  # multi-model methods: every member, and which one is the headline
        result.extra[distiller.members_key] = test_acc
        result.extra[f"{distiller.members_key}_val"] = val_acc
        result.extra["headline"] = head
    if result.teacher_test_acc is not None:
        result.gap = result.teacher_test_acc - result.student_test_acc


def _run(spec: ExperimentSpec, workspace: Workspace, reporter: Reporter, device: torch.device,
         result: TrialResult, on_student: StudentSink | None = None,
         checkpoint: Checkpoint | None = None) -> None:
    data = get_dataset(spec).to(device)  # on the device once; loaders index it there
    teacher = load_teacher(spec, data, workspace, device, result)
    distiller = build_distiller(spec, data, device)
    record_profile(result, distiller.student, data)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        result.curve.append(metrics)
        reporter.report_epoch(epoch, metrics)

    fit(distiller, data.x_train, data.y_train, spec.train, device,
        **teacher_args(teacher, spec, data, device),
        val=(data.x_val, data.y_val), seed=spec.seed, on_epoch=on_epoch, checkpoint=checkpoint)
    record_accuracy(result, distiller, data, device)
    if on_student is not None and (student := trained_student(
            spec, distiller, data, result.extra.get("headline"))) is not None:
        on_student(student)
