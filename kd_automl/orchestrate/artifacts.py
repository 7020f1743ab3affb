"""Which finished trials keep their student's weights, where the files go, and removing those
that fell out of the experiment's top K: the spec's ``artifacts:`` policy, in one place.

The runner (:mod:`kd_automl.orchestrate.runner`) asks :func:`plan` before it stores a
finished trial, saves the file with :func:`save` when the plan keeps it, stores the result
(the file's path, size and sha256 under ``extra["weights"]``), then :func:`remove`\\ s what
the plan dropped. Files live at ``<workspace>/artifacts/<experiment>/<trial id>/student.pt``.

>>> keep, drop = plan(spec.artifacts, "search", result, store, exp_id, trial_id)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kd_automl.results import TrialResult
from kd_automl.spec import ArtifactsSpec, ExperimentSpec
from kd_automl.store import Store
from kd_automl.store.records import WEIGHTS_KEY, TrialRecord
from kd_automl.workspace import Workspace

log = logging.getLogger(__name__)

ARTIFACTS = "artifacts"  # the workspace's folder of kept student files
CHECKPOINTS = "checkpoints"  # the training states of trials that may continue
OPTUNA_ARTIFACTS = "optuna_artifacts"  # Optuna's FileSystemArtifactStore (optuna-dashboard)
FILE_NAME = "student.pt"
ALWAYS_KEPT = frozenset({"confirm", "final"})  # roles whose runs keep their weights
RANKED = frozenset({"search"})  # roles ranked for ``keep: top``


def student_path(workspace: Workspace, experiment: str, trial_id: int) -> Path:
    """Where trial ``trial_id``'s student file goes."""
    return Path(workspace.root) / ARTIFACTS / experiment / str(trial_id) / FILE_NAME


def checkpoint_dir(workspace: Workspace, experiment: str, spec: ExperimentSpec) -> Path:
    """Where the checkpoint of a run of ``spec`` goes: keyed by what it trains (the spec
    without how it is run), so any retry of the same parameters and seed continues it."""
    data = {k: v for k, v in spec.to_dict().items() if k not in ("fuse", "artifacts")}
    data["train"] = {k: v for k, v in data["train"].items() if k != "checkpoint_every"}
    key = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]
    return Path(workspace.root) / CHECKPOINTS / experiment / key


def optuna_artifact_dir(workspace: Workspace) -> Path:
    """The folder of the workspace's Optuna artifact store (``optuna-dashboard
    --artifact-dir`` this folder lists and downloads the files)."""
    return Path(workspace.root) / OPTUNA_ARTIFACTS


@dataclass
class Plan:
    """What to do with one finished trial's student: keep it, and whose files to remove."""

    keep: bool
    drop: list[TrialRecord] = field(default_factory=list)


def _rank_key(value: float, trial_id: int, maximize: bool) -> tuple[float, int]:
    return (-value if maximize else value, trial_id)  # ties: the earlier trial stays


def plan(policy: ArtifactsSpec, role: str, result: TrialResult, spec: ExperimentSpec,
         store: Store, experiment: int, trial_id: int) -> Plan:
    """Whether trial ``trial_id`` (finished with ``result``) keeps its weights under
    ``policy``, and (``keep: top``) the kept trials it pushes out of the top K."""
    if result.status != "complete" or policy.keep == "none":
        return Plan(False)
    if policy.keep == "all" or role in ALWAYS_KEPT:
        return Plan(True)
    if role not in RANKED:
        return Plan(False)
    value = result.objective(spec.objective.metric)
    if value is None or not math.isfinite(value):
        return Plan(False)
    maximize = spec.objective.direction != "minimize"
    kept = [t for t in store.trials([experiment], states=["complete"], role=role)
            if t.weights is not None and t.id != trial_id and t.objective is not None]
    ranked = sorted([(t.objective, t.id, t) for t in kept] + [(value, trial_id, None)],
                    key=lambda r: _rank_key(r[0], r[1], maximize))
    top, rest = ranked[:policy.top], ranked[policy.top:]
    return Plan(any(t is None for _, _, t in top), [t for _, _, t in rest if t is not None])


def save(path: Path, trained: Any, info: dict[str, Any]) -> dict[str, Any]:
    """Write the trained student (:class:`~kd_automl.engine.trial.TrainedStudent`) to
    ``path``; returns what the trial records (path, size, sha256). OSError: nothing
    written."""
    from kd_automl.export.student import save_student

    saved = save_student(path, trained.model, trained.model_spec, trained.input_shape,
                         trained.num_classes, info)
    return {"path": str(saved.path), "size": saved.size, "sha256": saved.sha256}


def discard(path: Path) -> None:
    """Remove a trial's folder of kept files (a re-run trial that keeps nothing now)."""
    if path.parent.is_dir():
        shutil.rmtree(path.parent, ignore_errors=True)


def remove(store: Store, workspace: Workspace, trials: list[TrialRecord]) -> None:
    """Remove the kept files of ``trials`` and clear their records (record first: a record
    never names a missing file); their Optuna artifacts go too. Never raises."""
    for t in trials:
        w = t.weights
        try:
            store.drop_extra(t.id, WEIGHTS_KEY)
            with contextlib.suppress(FileNotFoundError):
                w.path.unlink()
            with contextlib.suppress(OSError):
                w.path.parent.rmdir()
            if w.optuna_artifact_id:
                _remove_optuna_artifact(workspace, w.optuna_artifact_id)
        except Exception as err:  # a file left behind must not stop the search
            log.warning("could not remove the weights of trial %s (%s): %s", t.id, w.path, err)


def _remove_optuna_artifact(workspace: Workspace, artifact_id: str) -> None:
    """Remove the file from the Optuna artifact store (its meta stays on the finished trial,
    which Optuna cannot change: optuna-dashboard lists it, without a file behind it)."""
    from optuna.artifacts import FileSystemArtifactStore

    with contextlib.suppress(Exception):  # already gone
        FileSystemArtifactStore(str(optuna_artifact_dir(workspace))).remove(artifact_id)


__all__ = ["ALWAYS_KEPT", "Plan", "checkpoint_dir", "discard", "optuna_artifact_dir", "plan",
           "remove", "save", "student_path"]
