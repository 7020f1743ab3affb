"""The torch builders by family: ``build_model(arch, input_shape, num_classes, **size)``.

A family's module registers its builder with :func:`register_model`; the builder takes the
options its catalog rule checked (:mod:`kd_automl.models.catalog`), all of them, by name.
Importing this module loads no torch: the first build imports the families.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kd_automl.errors import KDAutoMLError
from kd_automl.models.catalog import (
    PROBE_SHAPE,
    checked_by_building,
    located,
    model_options,
    model_sizes,
)

if TYPE_CHECKING:
    from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(family: str):
    """Register ``builder(input_shape, num_classes, **options) -> nn.Module`` for a catalog
    family."""

    def deco(fn):
        _BUILDERS[family] = fn
        return fn

    return deco


def builders() -> dict[str, Callable[..., nn.Module]]:
    """Every family's builder (the family modules imported on the first call)."""
    importlib.import_module("kd_automl.models.all_models")
    return dict(_BUILDERS)


def build_model(arch: str, input_shape: tuple[int, ...], num_classes: int,
                where: str = "model", **options: Any) -> nn.Module:
    """``arch`` built for ``input_shape`` and ``num_classes``; bad options fail in one line
    naming the field."""
    family, sizes = model_sizes(arch, options, where, tuple(input_shape), num_classes)
    try:
        return builders()[family](tuple(input_shape), num_classes, **sizes)
    except KDAutoMLError as err:
        raise KDAutoMLError(located(where, str(err), model_options(arch))) from None


def check_model(arch: str, options: dict[str, Any], where: str = "model",
                input_shape: tuple[int, ...] | None = None, num_classes: int = 10) -> None:
    """Raise :class:`KDAutoMLError` naming the field when ``arch`` or an option is wrong, or a
    size does not fit the data (``input_shape``; else a 3x32x32 probe), so it fails here, not
    in a trial. Loads no torch, except for a family its library checks (``torchvision``: built
    on the meta device, no memory, no compute)."""
    family, _ = model_sizes(arch, options, where, input_shape, num_classes)
    if not checked_by_building(family):
        return
    import torch

    try:
        with torch.device("meta"):
            build_model(arch, tuple(input_shape or PROBE_SHAPE), num_classes, where, **options)
    except (TypeError, ValueError, RuntimeError) as err:
        raise KDAutoMLError(f"{where}: invalid options for {arch!r}: {err}") from None
