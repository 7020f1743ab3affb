"""The spec schema page, generated from the pydantic models of ``kd_automl.spec``.

Types, defaults and bounds come from the models; what a field means comes from
``MEANING`` below, keyed by ``Model.field``. A field of the models without a meaning, or a
meaning for a field that no longer exists, stops the docs build (``schema_markdown``
raises), so the page names every field and nothing stale.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

MEANING: dict[str, str] = {
    "ExperimentSpec.name": "The experiment's name: the Optuna study's and the store's "
    "(a resumed run finds it by this name).",
    "ExperimentSpec.dataset": "What to train on.",
    "ExperimentSpec.teacher": "The teacher model; methods that need none (`ce`, `dml`) "
    "leave it out.",
    "ExperimentSpec.assistant": "A teacher assistant between teacher and student (`takd`); "
    "searchable as `assistant.width`, `assistant.depth`.",
    "ExperimentSpec.assistants": "A longer chain of assistants, teacher side first "
    "(`assistant`, when given, comes last).",
    "ExperimentSpec.student": "The student model (required).",
    "ExperimentSpec.method": "The distillation method and its hyperparameters "
    "([methods](../methods.md)).",
    "ExperimentSpec.train": "The student's training recipe.",
    "ExperimentSpec.teacher_train": "The teacher's recipe (same fields as `train`); "
    "default: `train`.",
    "ExperimentSpec.objective": "What the search optimises.",
    "ExperimentSpec.objectives": "Several objectives (a multi-objective search; the first "
    "is the store's `objective`); give this or `objective`.",
    "ExperimentSpec.sampler": "The Optuna sampler.",
    "ExperimentSpec.pruner": "The Optuna pruner; its steps are epochs.",
    "ExperimentSpec.seed": "The data split, the teacher, the batch order and (unless "
    "`train.seed`) the student's initialisation; the samplers' seeds derive from it.",
    "ExperimentSpec.fuse": "Optuna backend: train this many trials at once as one fused "
    "group (`--fuse` overrides).",
    "ExperimentSpec.artifacts": "Which finished trials keep their student's weights.",
    "ExperimentSpec.search": "The search space in NNI's format: dotted paths into this spec "
    "→ `{_type, _value}` ([concepts](../concepts/spec.md)).",
    "ExperimentSpec.reskd": "ResKD's settings ([ResKD](../reskd.md)).",
    "DatasetSpec.name": "`digits`, `synthetic`, `fashion_mnist`, `mnist`, `cifar10`, "
    "`cifar100` or `image_folder`; other fields (`root`, `limit`, `size`, ...) are the "
    "data set's options.",
    "DatasetSpec.val_fraction": "The seeded share of the training data held out for "
    "validation.",
    "DatasetSpec.test_fraction": "The share held out for test, where the data set has no "
    "test split of its own.",
    "ModelSpec.arch": "A model of the zoo (`cnn`, `mlp`, `resnet8x4`, `lenet5`, ...); other "
    "fields (`width`, `depth`, ...) are its size options, searchable by path.",
    "MethodSpec.name": "A registered method (`kd-automl methods`); other fields are its "
    "hyperparameters (`temperature`, `alpha`, ...).",
    "TrainSpec.epochs": "Training epochs (the pruners' steps).",
    "TrainSpec.batch_size": "Batch size.",
    "TrainSpec.optimizer": "The optimizer.",
    "TrainSpec.lr": "Learning rate.",
    "TrainSpec.momentum": "SGD momentum.",
    "TrainSpec.nesterov": "Nesterov momentum.",
    "TrainSpec.weight_decay": "Weight decay.",
    "TrainSpec.schedule": "The learning-rate schedule.",
    "TrainSpec.milestones": "Epochs where `step` multiplies the rate by `gamma`.",
    "TrainSpec.gamma": "The `step` schedule's factor.",
    "TrainSpec.augment": "Augmentation, on the device for the whole batch.",
    "TrainSpec.crop_padding": "The crop's zero padding (default 4 from 32 px, 2 below).",
    "TrainSpec.seed": "The student's initialisation (and noise) seed; default: the spec's "
    "`seed`.",
    "TrainSpec.checkpoint_every": "Save the training state every N epochs so a stopped "
    "trial continues (0: never; unset: after an epoch that ends 10 s (a final run) or 60 s "
    "(others) after the last save).",
    "ObjectiveSpec.metric": "The trial's metric to optimise.",
    "ObjectiveSpec.direction": "Maximise or minimise it.",
    "SamplerSpec.name": "The sampler; other fields are its options (`multivariate: true`, "
    "`sigma0: 0.5`, ...), an unknown one is an error listing the valid ones.",
    "PrunerSpec.name": "The pruner; other fields are its options (`percentile`, "
    "`reduction_factor`, ...).",
    "PrunerSpec.startup_trials": "median / percentile: trials finished before any pruning.",
    "PrunerSpec.warmup_epochs": "median / percentile: epochs of a trial before it can be "
    "pruned (Wilcoxon's `n_startup_steps`).",
    "ArtifactsSpec.keep": "`top`: the `top` best search trials; `all`: every finished trial; "
    "`none`: none.",
    "ArtifactsSpec.top": "How many trials `keep: top` keeps.",
}


def _models(root: type[BaseModel]) -> list[tuple[list[str], type[BaseModel]]]:
    """(the paths of the sections, their model) for the root and every model section below
    it, each model once, in field order."""
    paths: dict[type, list[str]] = {}

    def visit(path: str, model: type[BaseModel]) -> None:
        seen = model in paths
        paths.setdefault(model, []).append(path)
        if seen:
            return
        for name, field in model.model_fields.items():
            for sub in _model_args(field.annotation):
                visit(f"{path}.{name}".lstrip("."), sub)

    visit("", root)
    return [(p, m) for m, p in paths.items()]


def _model_args(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _model_args(a)]


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{v}`" for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " \\| ".join(_type(a) for a in args) + " or null"
    if origin is list:
        return f"list of {_type(typing.get_args(annotation)[0])}"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{_section_title(annotation)}](#{_anchor(annotation)})"
    return getattr(annotation, "__name__", str(annotation))


def _section_title(model: type[BaseModel]) -> str:
    return model.__name__.removesuffix("Spec").lower() or "spec"


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        made = field.default_factory()
        if isinstance(made, BaseModel):
            return "its defaults"
        return f"`{made!r}`" if made not in ([], {}) else "empty"
    if field.default is PydanticUndefined or field.default is None:
        return "unset"
    value = field.default
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "max_length": "at most {} characters",
           "pattern": "matches `{}`"}


def _bounds(field) -> str:
    out = []
    for meta in field.metadata:
        for key, sign in _BOUNDS.items():
            value = getattr(meta, key, None)
            if value is not None:
                out.append(sign.format(value) if "{}" in sign else f"{sign} {value}")
    return "; ".join(out)


def spec_fields() -> list[str]:
    """Every ``Model.field`` of the spec's models."""
    from kd_automl.spec import ExperimentSpec

    return [f"{m.__name__}.{n}" for _, m in _models(ExperimentSpec) for n in m.model_fields]


def _check_meanings(fields: list[str]) -> None:
    missing = [f for f in fields if f not in MEANING]
    stale = [f for f in MEANING if f not in fields]
    if missing or stale:
        raise ValueError("docs/hooks/spec_schema.py MEANING is out of date with "
                         "kd_automl/spec.py: "
                         + "; ".join([*(f"no meaning for {f}" for f in missing),
                                      *(f"{f} is no field" for f in stale)]))


def schema_markdown() -> str:
    """The whole schema page; raises when ``MEANING`` and the models disagree."""
    from kd_automl.spec import ExperimentSpec

    models = _models(ExperimentSpec)
    _check_meanings(spec_fields())
    lines = [
        "# Spec schema",
        "",
        "Generated from the pydantic models in `kd_automl/spec.py` when the docs are built. "
        "A spec is YAML or JSON; `search:` names the fields below by their dotted paths "
        "(`train.lr`, `student.width`, `method.temperature`). Sections marked *open* take "
        "further fields, checked by a registry (the method's hyperparameters, the model's "
        "size options, the data set's options, the sampler's and pruner's options); every "
        "other section refuses an unknown field. `kd-automl check SPEC` validates a file.",
        "",
    ]
    for path, model in models:  # path: the sections of this model
        title = ("the spec (top level)" if path == [""] else
                 ", ".join(f"`{p}`" for p in path) + f": {_section_title(model)}")
        open_ = model.model_config.get("extra") == "allow"
        lines += [f"## {title} {{#{_anchor(model)}}}", ""]
        doc = (model.__doc__ or "").strip()
        if doc:
            lines += [" ".join(doc.split()), ""]
        if open_:
            lines += ["*Open*: fields other than these are the section's options.", ""]
        lines += ["| field | type | default | bounds | meaning |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = f"{model.__name__}.{name}"
            lines.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | "
                         f"{_bounds(field)} | {MEANING[key]} |")
        lines.append("")
    return "\n".join(lines)
