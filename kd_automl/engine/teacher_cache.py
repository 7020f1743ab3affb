"""Teachers are trained once per (dataset, arch, size, seed, budget) and cached on disk.

A checkpoint is written to a temporary file and renamed into place; a
manifest holding its SHA-256 is written after it. A checkpoint without a
manifest, with a different hash, or that fails to load is a broken cache
entry: it is retrained, never used. A file lock makes concurrent workers
train a given teacher once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock
from torch import nn

from kd_automl.files import atomic_write, sha256_of

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass
class CachedModel:
    model: nn.Module
    metrics: dict[str, Any]
    path: Path
    reused: bool


def cache_key(fields: dict[str, Any]) -> str:
    blob = json.dumps({"v": CACHE_VERSION, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _try_load(model: nn.Module, ckpt: Path, manifest: Path) -> dict[str, Any] | None:
    if not ckpt.exists() and not manifest.exists():
        return None
    try:
        meta = json.loads(manifest.read_text())
        if meta.get("sha256") != sha256_of(ckpt):
            raise ValueError("checksum mismatch")
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return meta["metrics"]
    except Exception as err:  # any defect of the cache entry means: retrain
        log.warning("teacher cache %s is unusable (%s: %s); retraining", ckpt.name,
                    type(err).__name__, err)
        return None


_MEMORY: dict[Path, tuple[tuple[int, ...], dict[str, torch.Tensor], dict[str, Any]]] = {}
_MEMORY_ENTRIES = 4  # teachers whose verified weights a process keeps


def _stamp(ckpt: Path) -> tuple[int, ...] | None:
    """The weights' and the manifest's mtimes and sizes: any change to either is seen."""
    try:
        a, b = ckpt.stat(), ckpt.with_suffix(".json").stat()
    except OSError:
        return None
    return a.st_mtime_ns, a.st_size, b.st_mtime_ns, b.st_size


def _from_memory(ckpt: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The weights and metrics this process verified for ``ckpt``, while its files are the
    ones it verified (the same mtimes and sizes): a search's trials skip the lock, the checksum
    and the load (``benchmarks/trial_overhead.py``)."""
    entry = _MEMORY.get(ckpt)
    if entry is None or entry[0] != _stamp(ckpt):
        return None
    return entry[1], entry[2]


def _remember(ckpt: Path, model: nn.Module, metrics: dict[str, Any]) -> None:
    if (stamp := _stamp(ckpt)) is None:
        return
    if len(_MEMORY) >= _MEMORY_ENTRIES and ckpt not in _MEMORY:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[ckpt] = (stamp, {k: v.detach().cpu().clone() for k, v in
                             model.state_dict().items()}, metrics)


def is_cached(folder: Path, name: str, fields: dict[str, Any]) -> bool:
    """Whether the cache holds an entry for ``fields`` (its files are there; a broken entry is
    found, and retrained, when it is loaded)."""
    stem = f"{name}-{cache_key(fields)}"
    return (folder / f"{stem}.pt").is_file() and (folder / f"{stem}.json").is_file()


def load_or_train(folder: Path, name: str, fields: dict[str, Any], model: nn.Module,
                  train: Callable[[nn.Module], dict[str, Any]]) -> CachedModel:
    """Load ``model``'s weights from the cache entry for ``fields``, or train and store them.

    ``train(model)`` trains in place and returns metrics (e.g. test accuracy)
    that are stored in the manifest and returned on every reuse.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{cache_key(fields)}"
    ckpt, manifest = folder / f"{stem}.pt", folder / f"{stem}.json"
    if (hit := _from_memory(ckpt)) is not None:  # this process loaded it already
        model.load_state_dict(hit[0])
        return CachedModel(model, hit[1], ckpt, reused=True)
    with FileLock(str(folder / f"{stem}.lock")):
        metrics = _try_load(model, ckpt, manifest)
        if metrics is not None:
            _remember(ckpt, model, metrics)
            return CachedModel(model, metrics, ckpt, reused=True)
        metrics = train(model)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        atomic_write(ckpt, lambda p: torch.save(state, p))
        meta = {"sha256": sha256_of(ckpt), "metrics": metrics, "fields": fields}
        atomic_write(manifest, lambda p: p.write_text(json.dumps(meta, indent=2, default=str)))
        _remember(ckpt, model, metrics)
        return CachedModel(model, metrics, ckpt, reused=False)
