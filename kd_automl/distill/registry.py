"""Methods by name, as the spec names them: the torch classes, bound to their catalog entries.

A class declares its ``name`` (and its code); :func:`register_method` gives it the rest of its
metadata from :mod:`kd_automl.distill.catalog`, and refuses a class that states any of it
itself, so nothing can drift. :func:`get_method` imports every method module of the package
the first time it is asked (``_name`` modules are helpers): a new method is one module here
and its entry in the catalog.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from kd_automl.distill.catalog import check_method, method_info, method_names
from kd_automl.distill.method_info import BOUND
from kd_automl.errors import KDAutoMLError

_METHODS: dict[str, type] = {}
_loaded = False


def register_method(cls: type) -> type:
    """Class decorator: make a :class:`Distiller` subclass selectable by ``cls.name``, with
    the metadata of its catalog entry."""
    name = vars(cls).get("name")
    if not name or name not in method_names():
        raise TypeError(f"{cls.__name__}: its name {name!r} has no entry in "
                        "kd_automl/distill/catalog.py")
    for klass in cls.__mro__:
        if klass.__module__ == "kd_automl.distill.base":  # Distiller: the defaults
            break
        stated = [f for f in BOUND if f in vars(klass)] if klass not in _METHODS.values() else []
        if stated:
            raise TypeError(f"{klass.__name__}: {', '.join(stated)} belong in its entry in "
                            "kd_automl/distill/catalog.py, not in the class")
    for field in BOUND:
        setattr(cls, field, getattr(method_info(name), field))
    _METHODS[name] = cls
    return cls


def _load() -> None:
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
            if not info.name.startswith("_"):
                importlib.import_module(f"kd_automl.distill.{info.name}")
        _loaded = True


def get_method(name: str) -> type:
    """The torch class of method ``name`` (its modules imported the first time)."""
    method_info(name)  # an unknown name: the catalog's error
    _load()
    if name not in _METHODS:
        raise KDAutoMLError(f"method {name!r} has a catalog entry but no registered class")
    return _METHODS[name]


def registered() -> dict[str, type]:
    """Every registered class by name (all modules imported)."""
    _load()
    return dict(_METHODS)


__all__ = ["check_method", "get_method", "method_names", "register_method", "registered"]
