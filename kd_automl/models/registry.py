"""Models by name: ``build_model(arch, input_shape, num_classes, **size)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from kd_automl.errors import KDAutoMLError

PROBE_SHAPE = (3, 32, 32)
_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Register ``builder(input_shape, num_classes, **size_options) -> nn.Module``."""

    def deco(fn):
        _MODELS[name] = fn
        return fn

    return deco


def register_alias(name: str, builder: Callable[..., nn.Module], **defaults: object) -> None:
    """Register ``name`` as ``builder`` with other default sizes (all options stay searchable).

    >>> register_alias("resnet8x4", resnet, depth=8, width=4.0, stem=32)  # doctest: +SKIP
    """
    sig = inspect.signature(builder)
    params = [p.replace(default=defaults[p.name]) if p.name in defaults else p
              for p in sig.parameters.values()]

    def alias(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
        return builder(input_shape, num_classes, **{**defaults, **options})

    alias.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    sizes = ", ".join(f"{k}={v}" for k, v in defaults.items())
    alias.__doc__ = f"{(builder.__doc__ or name).splitlines()[0]} ({sizes})"
    _MODELS[name] = alias


def model_doc(arch: str) -> str:
    """One line describing ``arch`` (its builder's docstring)."""
    return (_MODELS[arch].__doc__ or arch).strip().splitlines()[0]


def model_names() -> list[str]:
    return sorted(_MODELS)


def model_options(arch: str) -> dict[str, object]:
    """The size options of ``arch`` and their defaults."""
    params = list(inspect.signature(_MODELS[arch]).parameters.values())[2:]
    return {p.name: p.default for p in params}


def check_model(arch: str, options: dict, where: str = "model") -> None:
    if arch not in _MODELS:
        raise KDAutoMLError(f"{where}.arch: unknown model {arch!r}; known: "
                            f"{', '.join(model_names())}")
    allowed = model_options(arch)
    for key in options:
        if key not in allowed:
            raise KDAutoMLError(f"{where}.{key}: unknown option for {arch!r} "
                                f"(options: {', '.join(allowed) or 'none'})")
    # build on the meta device (no memory, no compute) so bad sizes fail at validation time
    try:
        with torch.device("meta"):
            _MODELS[arch](PROBE_SHAPE, 10, **options)
    except KDAutoMLError as err:
        raise KDAutoMLError(f"{where}: {err}") from None
    except (TypeError, ValueError, RuntimeError) as err:
        raise KDAutoMLError(f"{where}: invalid options for {arch!r}: {err}") from None


def build_model(arch: str, input_shape: tuple[int, ...], num_classes: int,
                where: str = "model", **options) -> nn.Module:
    if arch not in _MODELS:
        check_model(arch, options, where)
    try:
        return _MODELS[arch](tuple(input_shape), num_classes, **options)
    except KDAutoMLError as err:
        raise KDAutoMLError(f"{where}: {err}") from None
