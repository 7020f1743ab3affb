"""The ready specs shipped inside the package (``kd_automl/specs/``, ``search_spaces/`` in a
checkout), found by name.

>>> ready_spec("digits_kd")            # doctest: +SKIP
PosixPath('.../kd_automl/specs/digits_kd.yaml')
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SUFFIXES = (".yaml", ".yml", ".json")


def specs_folder() -> Path:
    """The folder of the ready specs, wherever the package is installed."""
    return Path(str(files("kd_automl") / "specs"))


def ready_spec_names() -> list[str]:
    """Every ready spec's name: its path under the folder without the suffix
    (``digits_kd``, ``reproduce/...``)."""
    root = specs_folder()
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*")
                  if p.suffix in SUFFIXES and p.is_file())


def ready_spec(name: str) -> Path | None:
    """The ready spec called ``name`` (with or without its suffix), or None."""
    root = specs_folder().resolve()
    for candidate in (name, *(name + s for s in SUFFIXES)):
        path = root / candidate
        if path.suffix in SUFFIXES and path.is_file() and root in path.resolve().parents:
            return path
    return None
