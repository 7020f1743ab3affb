"""The trial's teacher side: the teacher trained once and cached, the chain of intermediate
teachers a method asks for (:meth:`Distiller.teacher_chain`, e.g. TAKD's assistants), and how
the batches get the teacher's outputs (cached logits, or the model itself)."""

from __future__ import annotations

import logging

import torch

from kd_automl.data import Dataset
from kd_automl.distill import get_method
from kd_automl.distill.base import Hop
from kd_automl.engine.device import prepare_model, seed_everything
from kd_automl.engine.result import TrialResult
from kd_automl.engine.teacher_cache import is_cached, load_or_train
from kd_automl.engine.teacher_outputs import teacher_logits
from kd_automl.engine.train import evaluate, fit
from kd_automl.models import build_model
from kd_automl.spec import ExperimentSpec, ModelSpec, TrainSpec
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)


def teacher_fields(spec: ExperimentSpec, model: ModelSpec, budget: TrainSpec) -> dict:
    """What a trained model of the teacher side depends on: its cache key's fields."""
    return {"dataset": spec.dataset.model_dump(mode="json"),
            "model": model.model_dump(mode="json"),
            "train": budget.model_dump(mode="json", exclude={"seed"}, exclude_none=True),
            "seed": spec.seed}


TEACHER_FIELDS = ("dataset", "teacher", "teacher_train", "seed")  # what the teacher depends on


def teacher_cached(spec: ExperimentSpec, workspace: Workspace) -> bool | None:
    """Whether ``spec``'s teacher is in the workspace's cache already; None when there is no
    one teacher to ask about (the method trains none, or the search varies it)."""
    if spec.teacher is None or not get_method(spec.method.name).needs_teacher:
        return None
    varied = TEACHER_FIELDS + (() if spec.teacher_train else ("train",))
    if any(key.split(".")[0] in varied for key in spec.search):
        return None
    name = f"{spec.dataset.name}-{spec.teacher.arch}"
    return is_cached(workspace.root / "teachers", name,
                     teacher_fields(spec, spec.teacher, spec.teacher_budget))


def train_teacher(spec: ExperimentSpec, data: Dataset, workspace: Workspace,
                  device: torch.device, model_spec: ModelSpec | None = None):
    """The spec's teacher, trained alone on the labels, from the cache when it is there."""
    model_spec = model_spec or spec.teacher
    budget = spec.teacher_budget
    fields = teacher_fields(spec, model_spec, budget)
    seed_everything(spec.seed)
    model = build_model(model_spec.arch, data.input_shape, data.num_classes, where="teacher",
                        **model_spec.options)

    def train(m):
        log.info("training teacher %s on %s (%d epochs)", model_spec.arch, data.name,
                 budget.epochs)
        m = prepare_model(m, device)
        fit(get_method("ce")(m), data.x_train, data.y_train, budget, device, seed=spec.seed)
        return {"val_acc": evaluate(m, data.x_val, data.y_val, device),
                "test_acc": evaluate(m, data.x_test, data.y_test, device),
                "params": sum(p.numel() for p in m.parameters())}

    cached = load_or_train(workspace.folder("teachers"), f"{data.name}-{model_spec.arch}", fields,
                           model, train)
    return frozen(cached, device)


def train_chain(spec: ExperimentSpec, data: Dataset, workspace: Workspace,
                device: torch.device, teacher, result: TrialResult, hops: list[Hop]):
    """Distil the teacher down ``hops`` (the method's :meth:`~Distiller.teacher_chain`), one
    cached run per hop, each from the previous one, on the teacher's budget; a hop's cache key
    holds its whole chain. Records the chain in ``result`` and returns its last model."""
    budget = spec.teacher_budget
    fields = teacher_fields(spec, spec.teacher, budget)
    chain = []
    for hop in hops:
        fields = {**teacher_fields(spec, hop.model, budget), "role": "assistant",
                  "hop": hop.options, "teacher": fields}
        seed_everything(spec.seed)
        model = build_model(hop.model.arch, data.input_shape, data.num_classes,
                            where="assistant", **hop.model.options)
        method = get_method(hop.method)

        def train(m, source=teacher, hop=hop, method=method):
            log.info("training assistant %s by %s (%d epochs)", hop.model.arch, hop.method,
                     budget.epochs)
            m = prepare_model(m, device)
            fit(method(m, **hop.options), data.x_train, data.y_train, budget, device,
                **_teacher_args(source, data, budget, needs_model=False, device=device),
                seed=spec.seed)
            return {"val_acc": evaluate(m, data.x_val, data.y_val, device),
                    "test_acc": evaluate(m, data.x_test, data.y_test, device),
                    "params": sum(p.numel() for p in m.parameters())}

        teacher = frozen(load_or_train(workspace.folder("assistants"),
                                       f"{data.name}-{hop.model.arch}", fields, model, train),
                         device)
        chain.append({"model": hop.model.model_dump(mode="json"), **teacher.metrics,
                      "cache": "reused" if teacher.reused else "trained"})
    result.extra["assistants"] = chain
    result.extra["assistant_acc"] = chain[-1]["test_acc"]
    return teacher


def frozen(cached, device: torch.device):
    """``cached``'s model on ``device``, in eval mode, its parameters frozen."""
    cached.model = prepare_model(cached.model, device).eval()
    for p in cached.model.parameters():
        p.requires_grad_(False)
    return cached


def _teacher_args(cached, data: Dataset, budget: TrainSpec, needs_model: bool,
                  device: torch.device) -> dict:
    """Cached logits (of both views under ``flip``) when logits suffice, else the model."""
    if cached is None:
        return {}
    if needs_model or budget.augment not in ("none", "flip"):
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
    if hops := method_cls.teacher_chain(spec):
        cached = train_chain(spec, data, workspace, device, cached, result, hops)
    return cached if method_cls.needs_teacher else None


def teacher_args(cached, spec: ExperimentSpec, data: Dataset, device: torch.device) -> dict:
    """How the trial's batches get the teacher's outputs (see :class:`BatchStream`)."""
    method_cls = get_method(spec.method.name)
    return _teacher_args(cached, data, spec.train,
                         method_cls.needs_features or method_cls.strong_view, device)
