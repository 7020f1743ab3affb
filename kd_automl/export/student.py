"""A trained student as one file: its weights plus what rebuilds it (architecture, sizes,
input shape, classes), written atomically; :func:`load_student` gives the module back.

>>> saved = save_student("student.pt", model, {"arch": "cnn", "width": 8}, (1, 8, 8), 10)
... # doctest: +SKIP
>>> model = load_student("student.pt")  # eval mode, on the CPU  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kd_automl.errors import KDAutoMLError
from kd_automl.files import atomic_write, sha256_of

FORMAT = "kd-automl-student/1"


@dataclass(frozen=True)
class SavedFile:
    """Where a file landed, its size in bytes and its SHA-256."""

    path: Path
    size: int
    sha256: str


def save_student(path: str | Path, model: nn.Module, model_spec: dict[str, Any],
                 input_shape: tuple[int, ...], num_classes: int,
                 info: dict[str, Any] | None = None) -> SavedFile:
    """Write ``model``'s weights with its ``model_spec`` (``{"arch": ..., **sizes}``); ``info``
    is free JSON-like metadata (the trial, its accuracy). Returns the file's size and hash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a copy of each tensor: a view (a fused member's BatchNorm buffers) would save its whole
    # storage
    state = {k: v.detach().to("cpu", copy=True, memory_format=torch.contiguous_format)
             for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "model": dict(model_spec), "input_shape": list(input_shape),
               "num_classes": int(num_classes), "state_dict": state, "info": info or {}}
    atomic_write(path, lambda p: torch.save(payload, p))
    return SavedFile(path, path.stat().st_size, sha256_of(path))


def read_student(path: str | Path) -> dict[str, Any]:
    """The file's contents (weights included), checked to be a student file."""
    path = Path(path)
    if not path.is_file():
        raise KDAutoMLError(f"{path}: no such student file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which
        raise KDAutoMLError(f"{path}: not a readable student file ({type(err).__name__}: "
                            f"{err})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise KDAutoMLError(f"{path}: not a kd-automl student file (format {FORMAT})")
    return payload


def load_student(path: str | Path, expected_sha256: str | None = None) -> nn.Module:
    """The student saved at ``path``, rebuilt from its spec, in eval mode on the CPU.

    With ``expected_sha256`` (the store's record), a file that changed is refused.
    """
    from kd_automl.models import build_model

    if expected_sha256 is not None and sha256_of(Path(path)) != expected_sha256:
        raise KDAutoMLError(f"{path}: checksum differs from the one recorded; the file was "
                            "changed or damaged")
    payload = read_student(path)
    spec = dict(payload["model"])
    model = build_model(spec.pop("arch"), tuple(payload["input_shape"]),
                        payload["num_classes"], where="student", **spec)
    model.load_state_dict(payload["state_dict"])
    return model.eval()
