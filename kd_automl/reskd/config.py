"""The ``reskd:`` section of an experiment spec: the res-student space, stopping rule, search.

>>> cfg = reskd_config(load_spec("search_spaces/digits_reskd.yaml"))   # doctest: +SKIP
>>> cfg.space.choices()["width"]                                        # doctest: +SKIP
[4, 8, 16, 32]
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kd_automl.errors import KDAutoMLError
from kd_automl.spec import ExperimentSpec

Block = Literal["plain", "residual"]
Strategy = Literal["Random", "RegularizedEvolution", "TPE"]
DEFAULT_THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999, 1.0]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArchSpace(_Strict):
    """The res-student family, written once: every field is a list of choices.

    A res-student is a conv net: a stem conv to ``width`` channels, then ``depth``
    blocks (``plain``: conv-BN-ReLU; ``residual``: two convs with a skip), each
    with ``kernel``-sized convs, a 2x2 max-pool after a block while the map is
    larger than 4x4, global average pooling and a linear head.
    """

    depth: list[int] = Field(default_factory=lambda: [1, 2, 3])
    width: list[int] = Field(default_factory=lambda: [4, 8, 16, 32])
    block: list[Block] = Field(default_factory=lambda: ["plain", "residual"])
    kernel: list[int] = Field(default_factory=lambda: [3, 5])

    @field_validator("depth", "width", "kernel")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(x < 1 for x in v):
            raise ValueError("needs at least one choice, all >= 1")
        if len(set(v)) != len(v):
            raise ValueError("choices must be distinct")
        return v

    @field_validator("kernel")
    @classmethod
    def _odd(cls, v: list[int]) -> list[int]:
        if any(k % 2 == 0 for k in v):
            raise ValueError("kernel sizes must be odd ('same' padding)")
        return v

    @field_validator("block")
    @classmethod
    def _blocks(cls, v: list[str]) -> list[str]:
        if not v or len(set(v)) != len(v):
            raise ValueError("needs at least one distinct choice")
        return v

    def choices(self) -> dict[str, list[Any]]:
        """Every dimension and its choices, in a fixed order (the order both backends use)."""
        return {"depth": list(self.depth), "width": list(self.width),
                "block": list(self.block), "kernel": list(self.kernel)}

    def size(self) -> int:
        n = 1
        for c in self.choices().values():
            n *= len(c)
        return n


class ReskdConfig(_Strict):
    """How ResKD grows, trains, stops and exits early. Fractions of FLOPs are of the teacher's."""

    space: ArchSpace = Field(default_factory=ArchSpace)
    max_students: int = Field(4, ge=1)
    trials_per_stage: int = Field(4, ge=1)
    strategy: Strategy = "Random"  # NNI backend only; Optuna uses TPE
    loss: Literal["mse", "kd"] = "mse"
    temperature: float = Field(4.0, gt=0)  # for loss: kd
    ce_weight: float = Field(0.0, ge=0)  # + ce_weight * CE(ensemble_{k-1} + z_k, y)
    epochs: int | None = Field(None, ge=1)  # res-student epochs (default: train.epochs)
    flops_weight: float = Field(0.5, ge=0)  # lambda in gap_reduction - lambda * flops_frac
    energy_threshold: float = Field(0.05, ge=0, le=1)
    flops_budget: float = Field(0.5, gt=0)
    min_gain: float = 0.0  # a stage whose best gap reduction is <= this ends the sequence
    thresholds: list[float] = Field(default_factory=lambda: list(DEFAULT_THRESHOLDS))
    adaptive_tolerance: float = Field(0.005, ge=0)

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 <= t <= 1 for t in v):
            raise ValueError("thresholds must be a non-empty list in [0, 1]")
        return sorted(set(v))


def reskd_config(spec: ExperimentSpec, source: str = "<spec>") -> ReskdConfig:
    """The spec's ``reskd`` section, validated (defaults when it is absent)."""
    if spec.teacher is None:
        raise KDAutoMLError(f"{source}: ResKD needs a 'teacher' section")
    try:
        return ReskdConfig.model_validate(spec.reskd or {})
    except ValidationError as err:
        lines = [f"{source}: invalid 'reskd' section"]
        for e in err.errors():
            path = ".".join(str(p) for p in ("reskd", *e["loc"]))
            msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
            lines.append(f"  {path}: {msg}")
        raise KDAutoMLError("\n".join(lines)) from None
