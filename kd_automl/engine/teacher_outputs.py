"""A cached teacher's logits on the training set, computed once and reused by every trial.

Inputs that are not augmented (or only flipped) are the same in every epoch
of every trial, so the frozen teacher's logits for them are computed once per
cached checkpoint and saved beside it (``<checkpoint>.<view>.logits.pt``). The
file records the checkpoint's hash and the number of rows; any mismatch or
load error recomputes it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from kd_automl.engine.teacher_cache import CachedModel
from kd_automl.engine.train import predict_logits
from kd_automl.files import atomic_write

log = logging.getLogger(__name__)
_MEMO: dict[tuple[str, str, str], torch.Tensor] = {}


def _checkpoint_hash(cached: CachedModel) -> str:
    manifest = cached.path.with_suffix(".json")
    try:
        return json.loads(manifest.read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return ""


def teacher_logits(cached: CachedModel, x: torch.Tensor, view: str,
                   device: torch.device) -> torch.Tensor:
    """Logits of ``cached.model`` for every row of ``x`` (``view`` names the input variant)."""
    sha = _checkpoint_hash(cached)
    key = (str(cached.path), view, str(device))
    hit = _MEMO.get(key)
    if hit is not None and sha and hit.shape[0] == len(x):
        return hit
    path: Path = cached.path.with_name(f"{cached.path.stem}.{view}.logits.pt")
    logits = None
    if sha and path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved["sha256"] == sha and saved["logits"].shape[0] == len(x):
                logits = saved["logits"].to(device)
        except Exception as err:  # a broken file is recomputed, never used
            log.warning("teacher logits %s unusable (%s); recomputing", path.name, err)
    if logits is None:
        logits = predict_logits(cached.model, x, device)
        if sha:
            payload = {"sha256": sha, "logits": logits.detach().cpu()}
            atomic_write(path, lambda p: torch.save(payload, p))
    _MEMO.clear()  # keep one teacher's outputs in memory, not every teacher's
    _MEMO[key] = logits
    return logits
