"""Methods by name, as the spec names them."""

from __future__ import annotations

from typing import Any

from kd_automl.errors import KDAutoMLError

_METHODS: dict[str, type] = {}


def register_method(cls: type) -> type:
    """Class decorator: make a :class:`Distiller` subclass selectable by ``cls.name``."""
    _METHODS[cls.name] = cls
    return cls


def method_names() -> list[str]:
    return sorted(_METHODS)


def get_method(name: str) -> type:
    if name not in _METHODS:
        raise KDAutoMLError(f"method.name: unknown method {name!r}; known: "
                            f"{', '.join(method_names())}")
    return _METHODS[name]


def check_method(name: str, options: dict[str, Any]) -> None:
    cls = get_method(name)
    for key, value in options.items():
        if key not in cls.hyperparameters:
            known = ", ".join(cls.hyperparameters) or "none"
            raise KDAutoMLError(f"method.{key}: {name!r} has no hyperparameter {key!r} "
                                f"(it has: {known})")
        cls.hyperparameters[key].check(key, value)
