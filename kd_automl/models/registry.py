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


def check_model(arch: str, options: dict, where: str = "model",
                input_shape: tuple[int, ...] | None = None, num_classes: int = 10) -> None:
    """Raise :class:`KDAutoMLError` naming the field when ``arch`` or an option is wrong.

    The model is built on the meta device for ``input_shape`` (the data set's, when known;
    else a 3x32x32 probe), so a size that does not fit the data fails here, not in a trial.
    """
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
            _MODELS[arch](tuple(input_shape or PROBE_SHAPE), num_classes, **options)
    except KDAutoMLError as err:
        raise KDAutoMLError(_located(where, str(err), allowed)) from None
    except (TypeError, ValueError, RuntimeError) as err:
        raise KDAutoMLError(f"{where}: invalid options for {arch!r}: {err}") from None


def _located(where: str, message: str, options: dict) -> str:
    """``student.width: ...`` when the message starts with an option's name, else
    ``student: ...``."""
    head = message.split(":", 1)[0]
    return f"{where}.{message}" if head in options else f"{where}: {message}"


def build_model(arch: str, input_shape: tuple[int, ...], num_classes: int,
                where: str = "model", **options) -> nn.Module:
    if arch not in _MODELS:
        check_model(arch, options, where)
    try:
        return _MODELS[arch](tuple(input_shape), num_classes, **options)
    except KDAutoMLError as err:
        raise KDAutoMLError(_located(where, str(err), model_options(arch))) from None
