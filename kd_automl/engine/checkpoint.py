"""A trial's training state saved between epochs, so a stopped trial continues where it was.

A checkpoint holds everything that decides the epochs still to come: the distiller's
parameters and buffers (the student, its projectors, BatchNorm statistics), the optimizer,
the schedule, the batch order's and augmentation's generators, torch's global RNG (dropout,
noise) and the curve so far. Restored, epoch ``k + 1`` trains exactly as it would have
without the stop (CPU, same seed). The file is written atomically with its SHA-256 beside it;
one whose checksum fails is ignored (the trial restarts from epoch 0 and says so).

When to save (``train.checkpoint_every``): every N epochs; 0 never; unset, after any epoch
that ends at least :data:`FINAL_INTERVAL_S` (a ``final`` run) or :data:`AUTO_INTERVAL_S`
(any other run) seconds of training after the last save: a long epoch saves every time,
short ones rarely (``benchmarks/shipping.py``: a save is 12% of a 0.06 s digits epoch).

>>> ckpt = Checkpoint(folder, every=None, role="search")   # doctest: +SKIP
>>> fit(..., checkpoint=ckpt)                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kd_automl.files import atomic_write, sha256_of

log = logging.getLogger(__name__)

FORMAT = "kd-automl-checkpoint/1"
STATE, META = "state.pt", "state.json"
AUTO_INTERVAL_S = 60.0  # unset checkpoint_every: save after an epoch this long after the last
FINAL_INTERVAL_S = 10.0  # the same for a final run (kd-automl train): on by default


@dataclass
class Checkpoint:
    """The checkpoint of one trial in ``folder`` and the policy for saving it."""

    folder: Path
    every: int | None = None
    role: str = "search"
    notes: list[str] = field(default_factory=list)  # what happened (restored, refused)
    saved_epoch: int = 0
    _last_save: float = field(default_factory=time.perf_counter)

    @property
    def state_path(self) -> Path:
        return Path(self.folder) / STATE

    def due(self, epoch: int, epochs: int) -> bool:
        """Whether to save after ``epoch`` of ``epochs`` (never after the last one)."""
        if epoch >= epochs or self.every == 0:
            return False
        if self.every is not None:
            return epoch % self.every == 0
        interval = FINAL_INTERVAL_S if self.role == "final" else AUTO_INTERVAL_S
        return time.perf_counter() - self._last_save >= interval

    def save(self, epoch: int, state: dict[str, Any]) -> None:
        """Write ``state`` after ``epoch``; a failure (a full disk) is a warning only."""
        folder = Path(self.folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.state_path,
                         lambda p: torch.save({"format": FORMAT, "epoch": epoch, **state}, p))
            meta = {"epoch": epoch, "sha256": sha256_of(self.state_path)}
            atomic_write(folder / META, lambda p: p.write_text(json.dumps(meta)))
        except OSError as err:
            log.warning("checkpoint after epoch %d not written (%s); the trial goes on",
                        epoch, err)
            return
        self.saved_epoch = epoch
        self._last_save = time.perf_counter()

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none or it fails its checksum (noted)."""
        folder = Path(self.folder)
        if not self.state_path.is_file():
            return None
        try:
            meta = json.loads((folder / META).read_text())
            if sha256_of(self.state_path) != meta["sha256"]:
                raise ValueError("checksum differs")
            state = torch.load(self.state_path, map_location="cpu", weights_only=False)
            if state.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
        except Exception as err:  # damaged, truncated, foreign: start over, say so
            line = (f"checkpoint in {folder} refused ({type(err).__name__}: {err}); "
                    "the trial restarts from epoch 0")
            log.warning("%s", line)
            self.notes.append(line)
            return None
        self.notes.append(f"resumed from the checkpoint after epoch {state['epoch']}")
        self.saved_epoch = int(state["epoch"])
        return state

    def clear(self) -> None:
        """Remove the checkpoint (the trial ended: complete, pruned or failed)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def rng_state() -> dict[str, Any]:
    """The global generators: Python's, NumPy's, torch's (CPU and every CUDA device)."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


__all__ = ["AUTO_INTERVAL_S", "FINAL_INTERVAL_S", "Checkpoint", "rng_state", "set_rng_state"]
