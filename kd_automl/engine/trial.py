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
from kd_automl.engine.teacher_cache import is_cached, load_or_train
from kd_automl.engine.teacher_outputs import teacher_logits
from kd_automl.engine.train import evaluate, fit, member_accuracies
from kd_automl.errors import KDAutoMLError, TrialDiverged, TrialPruned
from kd_automl.models import build_model, profile
from kd_automl.spec import ExperimentSpec, ModelSpec, TrainSpec
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


def _teacher_fields(spec: ExperimentSpec, model: ModelSpec, budget: TrainSpec) -> dict:
    return {"dataset": spec.dataset.model_dump(mode="json"),
            "model": model.model_dump(mode="json"),
            "train": budget.model_dump(mode="json", exclude={"seed"}, exclude_none=True),
            "seed": spec.seed}


TEACHER_FIELDS = ("dataset", "teacher", "teacher_train", "seed")  # what the teacher depends on


def teacher_cached(spec: ExperimentSpec, workspace: Workspace) -> bool | None:
    """Whether ``spec``'s teacher is in the workspace's cache already; None when there is no
    one teacher to ask about (the method trains none, or the search varies it)."""
    from kd_automl.distill import get_method

    if spec.teacher is None or not get_method(spec.method.name).needs_teacher:
        return None
    varied = TEACHER_FIELDS + (() if spec.teacher_train else ("train",))
    if any(key.split(".")[0] in varied for key in spec.search):
        return None
    name = f"{spec.dataset.name}-{spec.teacher.arch}"
    return is_cached(workspace.root / "teachers", name,
                     _teacher_fields(spec, spec.teacher, spec.teacher_budget))


def train_teacher(spec: ExperimentSpec, data: Dataset, workspace: Workspace,
                  device: torch.device, model_spec: ModelSpec | None = None):
    """The spec's teacher, trained alone on the labels, from the cache when it is there."""
    from kd_automl.distill.ce import CE

    model_spec = model_spec or spec.teacher
    budget = spec.teacher_budget
    fields = _teacher_fields(spec, model_spec, budget)
    seed_everything(spec.seed)
    model = build_model(model_spec.arch, data.input_shape, data.num_classes, where="teacher",
                        **model_spec.options)

    def train(m):
        log.info("training teacher %s on %s (%d epochs)", model_spec.arch, data.name,
                 budget.epochs)
        m = prepare_model(m, device)
        fit(CE(m), data.x_train, data.y_train, budget, device, seed=spec.seed)
        return {"val_acc": evaluate(m, data.x_val, data.y_val, device),
                "test_acc": evaluate(m, data.x_test, data.y_test, device),
                "params": sum(p.numel() for p in m.parameters())}

    cached = load_or_train(workspace.folder("teachers"), f"{data.name}-{model_spec.arch}", fields,
                           model, train)
    return _frozen(cached, device)


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


def train_assistants(spec: ExperimentSpec, data: Dataset, workspace: Workspace,
                     device: torch.device, teacher, result: TrialResult):
    """Distil the teacher down the assistant chain, one cached KD run per hop.

    Each assistant is trained with Hinton KD (``method.assistant_temperature``,
    ``method.assistant_alpha``, ``method.kd_reduction``) from the previous hop, on the
    teacher's budget, and cached under a key made of its whole chain. Returns the last
    assistant.
    """
    from kd_automl.distill.takd import TAKD  # Hinton KD with the chain's KL reduction

    opts = spec.method.options
    hop = {"temperature": opts.get("assistant_temperature", 4.0),
           "alpha": opts.get("assistant_alpha", 0.9)}
    if opts.get("kd_reduction", "batchmean") != "batchmean":  # keeps older cache keys valid
        hop["kd_reduction"] = opts["kd_reduction"]
    budget = spec.teacher_budget
    fields = _teacher_fields(spec, spec.teacher, budget)
    chain = []
    for a_spec in spec.assistant_chain:
        fields = {**_teacher_fields(spec, a_spec, budget), "role": "assistant", "hop": hop,
                  "teacher": fields}
        seed_everything(spec.seed)
        model = build_model(a_spec.arch, data.input_shape, data.num_classes, where="assistant",
                            **a_spec.options)
        source = teacher

        def train(m, source=source, a_spec=a_spec):
            log.info("training assistant %s by KD (%d epochs)", a_spec.arch, budget.epochs)
            m = prepare_model(m, device)
            fit(TAKD(m, **hop), data.x_train, data.y_train, budget, device,
                **_teacher_args(source, data, budget, needs_features=False, device=device),
                seed=spec.seed)
            return {"val_acc": evaluate(m, data.x_val, data.y_val, device),
                    "test_acc": evaluate(m, data.x_test, data.y_test, device),
                    "params": sum(p.numel() for p in m.parameters())}

        teacher = _frozen(load_or_train(workspace.folder("assistants"),
                                        f"{data.name}-{a_spec.arch}", fields, model, train),
                          device)
        chain.append({"model": a_spec.model_dump(mode="json"), **teacher.metrics,
                      "cache": "reused" if teacher.reused else "trained"})
    result.extra["assistants"] = chain
    result.extra["assistant_acc"] = chain[-1]["test_acc"]
    return teacher


def _frozen(cached, device: torch.device):
    cached.model = prepare_model(cached.model, device).eval()
    for p in cached.model.parameters():
        p.requires_grad_(False)
    return cached


def _teacher_args(cached, data: Dataset, budget: TrainSpec, needs_features: bool,
                  device: torch.device) -> dict:
    """Cached logits (of both views under ``flip``) when logits suffice, else the model."""
    if cached is None:
        return {}
    if needs_features or budget.augment not in ("none", "flip"):
        return {"teacher": cached.model}
    out = {"teacher_logits": teacher_logits(cached, data.x_train, "train", device)}
    if budget.augment == "flip":
        out["teacher_logits_flipped"] = teacher_logits(cached, data.x_train.flip(3),
                                                       "train-flipped", device)
    return out


def load_teacher(spec: ExperimentSpec, data: Dataset, workspace: Workspace,
                 device: torch.device, result: TrialResult):
    """The trial's frozen teacher (or last assistant), recording its accuracy in ``result``;
    ``None`` for methods that train without one."""
    method_cls = get_method(spec.method.name)
    if spec.teacher is None:
        return None
    # also for teacher-free methods: the gap column needs it
    cached = train_teacher(spec, data, workspace, device)
    result.teacher_test_acc = cached.metrics["test_acc"]
    result.teacher_params = cached.metrics["params"]
    result.extra["teacher_cache"] = "reused" if cached.reused else "trained"
    if method_cls.needs_assistant:
        cached = train_assistants(spec, data, workspace, device, cached, result)
    return cached if method_cls.needs_teacher else None


def teacher_args(cached, spec: ExperimentSpec, data: Dataset, device: torch.device) -> dict:
    """How the trial's batches get the teacher's outputs (see :class:`BatchStream`)."""
    method_cls = get_method(spec.method.name)
    return _teacher_args(cached, data, spec.train,
                         method_cls.needs_features or method_cls.strong_view, device)


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
