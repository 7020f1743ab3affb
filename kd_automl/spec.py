"""The experiment spec: what to distil and what to search, loaded from YAML or JSON.

Any field can be searched by naming its dotted path under ``search``; a trial
is the spec with the sampled values written in (:func:`apply_params`),
validated again before it runs.

>>> spec = load_spec("search_spaces/digits_kd.yaml")      # doctest: +SKIP
>>> trial_spec = apply_params(spec, {"method.temperature": 4.0})  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kd_automl.errors import KDAutoMLError
from kd_automl.search import default_point, edge_points, validate_space


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    """A section whose extra fields are keyword arguments checked by a registry."""

    model_config = ConfigDict(extra="allow")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DatasetSpec(_Open):
    name: str = "digits"
    val_fraction: float = Field(0.2, gt=0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0, lt=0.5)


class ModelSpec(_Open):
    arch: str


class MethodSpec(_Open):
    name: str = "kd"


class TrainSpec(_Strict):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(128, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    milestones: list[int] = Field(default_factory=list)
    gamma: float = Field(0.1, gt=0)
    augment: Literal["none", "flip", "crop", "crop_flip"] = "none"  # on the device, per batch
    # the crop's zero padding; default 4 for images from 32 px (CIFAR), 2 below (28x28)
    crop_padding: int | None = Field(None, ge=1)
    # the student's initialisation (and noise) seed; default: the spec's seed, which also
    # draws the data split, the teacher and the batch order
    seed: int | None = None
    # save the training state every N epochs so a stopped trial continues (0: never; unset:
    # after an epoch that ends 10 s (a final run) or 60 s (others) after the last save)
    checkpoint_every: int | None = Field(None, ge=0)


Metric = Literal["val_acc", "test_acc", "student_params", "student_flops",
                 "student_latency_ms", "wall_time_s"]


class ObjectiveSpec(_Strict):
    metric: Metric = "val_acc"
    direction: Literal["maximize", "minimize"] = "maximize"


class SamplerSpec(_Open):
    """Optuna sampler; extra fields are its options (checked by kd_automl.search.strategy)."""

    name: Literal["tpe", "random", "cmaes", "gp", "nsgaii", "qmc", "grid"] = "tpe"


class PrunerSpec(_Open):
    """Optuna pruner; epochs are its steps (hyperband, successive_halving: its resource)."""

    name: Literal["median", "percentile", "successive_halving", "hyperband", "wilcoxon",
                  "none"] = "median"
    startup_trials: int = Field(4, ge=0)
    warmup_epochs: int = Field(5, ge=0)


class ArtifactsSpec(_Strict):
    """Which finished trials keep their student's weights (``<workspace>/artifacts/``).

    ``top``: the ``top`` best search trials of the experiment by its objective; ``all``:
    every finished trial; ``none``: none. Pruned and failed trials keep nothing; confirm
    (and final) runs always keep theirs unless ``none``.
    """

    keep: Literal["top", "all", "none"] = "top"
    top: int = Field(5, ge=1)


class ExperimentSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=120)
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    teacher: ModelSpec | None = None
    assistant: ModelSpec | None = None  # teacher assistant (takd); searchable: assistant.width
    assistants: list[ModelSpec] = Field(default_factory=list)  # a longer chain, teacher side first
    student: ModelSpec
    method: MethodSpec = Field(default_factory=MethodSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    teacher_train: TrainSpec | None = None
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    objectives: list[ObjectiveSpec] = Field(default_factory=list)  # several: multi-objective
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    seed: int = 0
    fuse: int = Field(1, ge=1)  # Optuna backend: trials trained together as one fused group
    artifacts: ArtifactsSpec = Field(default_factory=ArtifactsSpec)  # whose weights are kept
    search: dict[str, Any] = Field(default_factory=dict)
    reskd: dict[str, Any] | None = None  # ResKD settings; checked by kd_automl.reskd.config

    @field_validator("search")
    @classmethod
    def _valid_space(cls, space: dict[str, Any]) -> dict[str, Any]:
        try:
            validate_space(space)
        except KDAutoMLError as err:
            raise ValueError(str(err)) from None
        return space

    @model_validator(mode="after")
    def _one_objective_list(self) -> ExperimentSpec:
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"objectives: a metric is listed twice ({', '.join(metrics)})")
        if self.objectives:
            if "objective" in self.model_fields_set and self.objective != self.objectives[0]:
                raise ValueError("give 'objective' or 'objectives', not both")
            self.objective = self.objectives[0]  # the store's and the leaderboard's first key
        return self

    @property
    def goals(self) -> list[ObjectiveSpec]:
        """The objectives, in order (one for a single-objective spec)."""
        return list(self.objectives) or [self.objective]

    @property
    def multi_objective(self) -> bool:
        return len(self.goals) > 1

    @property
    def teacher_budget(self) -> TrainSpec:
        return self.teacher_train or self.train

    @property
    def assistant_chain(self) -> list[ModelSpec]:
        """Assistants, teacher side first: ``assistants``, then ``assistant``."""
        return [*self.assistants, *([self.assistant] if self.assistant else [])]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _validation_lines(err: ValidationError) -> list[str]:
    """One ``path: message`` per error pydantic found, without its ``Value error,`` prefix."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"])
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] in ("value_error", "assertion_error"):
            msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if not path or msg.startswith(f"{path}:") or msg.startswith(f"{path}."):
            lines.append(msg)  # the message names its field already
        else:
            lines.append(f"{path}: {msg}")
    return lines


def _format_validation_error(err: ValidationError, source: str) -> str:
    return _format_problems(_validation_lines(err), source, header=True)


def _format_problems(lines: list[str], source: str, header: bool = False) -> str:
    """``source: problem`` for one problem (pydantic's under a header), else a header and one
    indented line each (a line of the search's default point starts with ``(search)``)."""
    if len(lines) == 1 and not header:
        line = lines[0]
        if line.startswith("(search) "):
            return f"{source} (search): {line.removeprefix('(search) ')}"
        return f"{source}: {line}"
    head = "invalid experiment spec" + (f" ({len(lines)} problems)" if len(lines) > 1 else "")
    return "\n".join([f"{source}: {head}", *(f"  {line}" for line in lines)])


class SpecError(KDAutoMLError):
    """An invalid spec; ``problems``: one ``path: message`` line each."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


def parse_spec(data: Any, source: str = "<spec>") -> ExperimentSpec:
    """Validate a spec given as a dict; errors name the file and the field path, all of them
    at once (:func:`spec_problems`)."""
    if not isinstance(data, dict):
        raise KDAutoMLError(f"{source}: an experiment spec must be a mapping, got "
                            f"{type(data).__name__}")
    spec, problems, pydantic = _validate(data)
    if problems:
        raise SpecError(_format_problems(problems, source, header=pydantic), problems)
    return spec


def _validate(data: dict) -> tuple[ExperimentSpec | None, list[str], bool]:
    """The spec, and every problem found: pydantic's (fields, types, ranges) with the names
    of the sections that parse on their own checked beside them; else the names (dataset,
    models, method), then each searched field's values and the sampler and pruner."""
    space = _space_problems(data.get("search"))  # each entry's, not the first one's only
    try:  # a bad search space would hide the checks of the whole spec: validated without it
        spec = ExperimentSpec.model_validate(
            {k: v for k, v in data.items() if k != "search"} if space else data)
    except ValidationError as err:
        bad = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
        return None, (_validation_lines(err) + _section_reference_errors(data, bad)
                      + space), True
    if space:
        return None, reference_errors(spec) + space, True
    problems = reference_errors(spec)
    if problems:  # the search's values need a valid spec to go in; its keys are checked
        return None, problems + _search_key_errors(spec), False
    if spec.search:
        problems += _search_errors(spec)
    from kd_automl.search.strategy import check_strategy

    try:
        check_strategy(spec, source="")
    except KDAutoMLError as err:
        problems.append(str(err).removeprefix(": "))
    return (None if problems else spec), problems, False


def _space_problems(space: Any) -> list[str]:
    """The problems of each entry of a search space (a space that is no mapping: pydantic's)."""
    if not isinstance(space, dict):
        return []
    out = []
    for key, entry in space.items():
        try:
            validate_space({key: entry})
        except KDAutoMLError as err:
            out.append(str(err))
    return out


def _search_errors(spec: ExperimentSpec) -> list[str]:
    """Every search key names a field, and every choice and range end makes a valid spec:
    one problem per searched field that cannot."""
    base = default_point(spec.search)
    problems = _apply_problems(spec, base)
    if problems:
        return [f"(search) {p}" for p in problems]
    out = []
    for key, entry in spec.search.items():
        for value in edge_points(entry):
            problems = _apply_problems(spec, {**base, key: value})
            if problems:
                shown = value.get("_name") if isinstance(value, dict) else value
                out.append(f"search.{key} can sample {shown!r}, which is not a valid spec: "
                           f"{'; '.join(problems)}")
                break  # one problem per searched field
    return out


def _search_key_errors(spec: ExperimentSpec) -> list[str]:
    """The search keys that name no field of the spec."""
    out = []
    for key, entry in spec.search.items():
        data = copy.deepcopy(spec.to_dict())
        try:
            _set_path(data, resolve_key(spec, key), default_point({key: entry})[key], "")
        except KDAutoMLError:
            out.append(f"search.{key}: names no field of the spec")
            continue
        try:
            ExperimentSpec.model_validate(data)
        except ValidationError as err:
            if any(e["type"] == "extra_forbidden" for e in err.errors()):
                out.append(f"search.{key}: names no field of the spec")
    return out


def _apply_problems(spec: ExperimentSpec, params: dict[str, Any]) -> list[str]:
    try:
        apply_params(spec, params, source="")
    except SpecError as err:
        return err.problems
    except KDAutoMLError as err:
        return [str(err).removeprefix(": ").strip()]
    return []


def load_spec(path: str | Path) -> ExperimentSpec:
    """Load and validate a YAML or JSON experiment spec file, or a ready spec by name
    (``digits_kd``: see ``kd_automl.ready_specs``)."""
    from kd_automl.ready_specs import ready_spec, ready_spec_names

    path = Path(path)
    if not path.is_file():
        ready = ready_spec(str(path))
        if ready is None:
            raise KDAutoMLError(f"spec file not found: {path} (nor a ready spec of that name: "
                                f"{', '.join(ready_spec_names())})")
        path = ready
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise KDAutoMLError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}"
                            f": {err}") from None
    return parse_spec(data, str(path))


def check_references(spec: ExperimentSpec, source: str = "<spec>") -> None:
    """Check the names the spec uses (dataset, models, method) against the registries."""
    problems = reference_errors(spec)
    if problems:
        raise SpecError(_format_problems(problems, source), problems)


def reference_errors(spec: Any) -> list[str]:
    """Every problem of the names ``spec`` uses (its dataset, models and method, and their
    options) against the registries, one ``path: message`` each. A section that is None is
    not checked (its own errors are reported already)."""
    from functools import partial

    from kd_automl.data import check_dataset, dataset_shape
    from kd_automl.distill.catalog import check_method, method_info
    from kd_automl.models import check_model as check_any_model

    problems: list[str] = []

    def attempt(check, *args, **kwargs) -> bool:
        try:
            check(*args, **kwargs)
        except KDAutoMLError as err:
            problems.append(str(err))
            return False
        return True

    shape = None
    if spec.dataset is not None and attempt(check_dataset, spec.dataset.name,
                                            spec.dataset.options):
        shape = dataset_shape(spec.dataset.name, spec.dataset.options)
    # models are built (on the meta device) for the data set's own image size
    check_model = partial(check_any_model, input_shape=shape)
    method = None
    if spec.method is not None and attempt(method_info, spec.method.name):
        method = method_info(spec.method.name)
        for key, value in spec.method.options.items():
            attempt(check_method, spec.method.name, {key: value})
    if spec.student is not None:
        attempt(check_model, spec.student.arch, spec.student.options, where="student")
    if spec.teacher is not None:
        attempt(check_model, spec.teacher.arch, spec.teacher.options, where="teacher")
    elif method is not None and method.needs_teacher and not getattr(spec, "teacher_bad", False):
        problems.append(f"method {spec.method.name!r} needs a 'teacher' section")
    chain = spec.assistant_chain if spec.assistant_chain is not None else []
    if method is not None and method.needs_assistant and spec.assistant_chain == []:
        problems.append(f"method {spec.method.name!r} needs an 'assistant' section "
                        "(or a list 'assistants')")
    for i, a in enumerate(chain):
        attempt(check_model, a.arch, a.options,
                where="assistant" if a is spec.assistant else f"assistants.{i}")
    return problems


def _section_reference_errors(data: dict, bad: set[str]) -> list[str]:
    """:func:`reference_errors` of the sections of ``data`` that parse on their own (those in
    ``bad`` have pydantic's errors)."""
    from types import SimpleNamespace

    def section(key: str, model: type[BaseModel], default: Any = None) -> Any:
        if key in bad:
            return None
        raw = data.get(key, default)
        if raw is None:
            return None
        try:
            return model.model_validate(raw)
        except ValidationError:
            return None

    assistant = section("assistant", ModelSpec)
    chain = None
    if not {"assistant", "assistants"} & bad:
        try:
            chain = [ModelSpec.model_validate(a) for a in data.get("assistants") or []]
            chain += [assistant] if assistant else []
        except (ValidationError, TypeError):
            chain = None
    return reference_errors(SimpleNamespace(
        dataset=section("dataset", DatasetSpec, {}), method=section("method", MethodSpec, {}),
        student=section("student", ModelSpec), teacher=section("teacher", ModelSpec),
        teacher_bad="teacher" in bad, assistant=assistant, assistant_chain=chain))


MODEL_SECTIONS = ("teacher", "student", "assistant")


def _set_path(data: dict[str, Any], path: str, value: Any, source: str) -> None:
    keys = path.split(".")
    node = data
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            if node.get(key) is None and key in ("teacher", "teacher_train", "assistant"):
                node[key] = {}
            else:
                raise KDAutoMLError(f"{source}: search key {path!r} does not name a spec field")
        node = node[key]
    last = keys[-1]
    if isinstance(value, dict) and "_name" in value:
        # nested choice: {_name: kd, temperature: 3} -> {name: kd, temperature: 3}
        # model sections name their choice by `arch`, every other section by `name`
        field = "arch" if last in MODEL_SECTIONS else "name"
        section = {field: value["_name"]}
        for k, v in value.items():
            if k != "_name":
                _set_path(section, k, v, source)
        node[last] = section
    else:
        node[last] = value


def resolve_key(spec: ExperimentSpec, key: str) -> str:
    """A bare key (``temperature``) is shorthand for ``method.<key>``."""
    if "." in key or key in ExperimentSpec.model_fields:
        return key
    return f"method.{key}"


def apply_params(spec: ExperimentSpec, params: dict[str, Any],
                 source: str = "trial") -> ExperimentSpec:
    """Return the spec with sampled values written at their dotted paths, validated again."""
    data = copy.deepcopy(spec.to_dict())
    for key, value in params.items():
        _set_path(data, resolve_key(spec, key), value, source)
    try:
        out = ExperimentSpec.model_validate(data)
    except ValidationError as err:
        lines = _validation_lines(err)
        raise SpecError(_format_problems(lines, source, header=True), lines) from None
    check_references(out, source)
    return out
