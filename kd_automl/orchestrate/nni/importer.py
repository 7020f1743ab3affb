"""Copying an experiment's trials from NNI's own database into the store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.nni.env import nni_home
from kd_automl.orchestrate.nni.launch import store_name_of
from kd_automl.spec import ExperimentSpec
from kd_automl.workspace import Workspace


def import_experiment(ws: Workspace, exp_id: str, store, spec: ExperimentSpec | None = None,
                      nni_dir: Path | None = None) -> tuple[str, int]:
    """Copy an experiment's trials from NNI's own database into the store.

    Each metric is paired with the parameters of the parameter id recorded *in
    the metric*, never with the job's own (possibly mismatched) parameter
    record. Returns the store experiment name and the number of trials copied.
    """
    from kd_automl.engine import TrialResult
    from kd_automl.spec import parse_spec

    folder = nni_dir or (nni_home(ws) / "nni-experiments" / exp_id)
    db_file = folder / "db" / "nni.sqlite"
    if not db_file.exists():
        raise KDAutoMLError(f"no NNI database at {db_file}; pass --nni-dir with the folder of "
                            f"experiment {exp_id}")
    if spec is None:
        spec_file = nni_home(ws) / "specs" / f"{exp_id}.json"
        if not spec_file.exists():
            raise KDAutoMLError(f"experiment {exp_id} was not launched by kd-automl; pass --spec "
                                "with the spec it ran")
        spec = parse_spec(json.loads(spec_file.read_text()), str(spec_file))
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as conn:
        # parameter ids restart when an experiment is resumed: keep every (time, params) per id
        params_by_id: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        job_states: dict[str, str] = {}
        for ts, job_id, event, hp in conn.execute(
                "SELECT timestamp, trialJobId, event, data FROM TrialJobEvent "
                "ORDER BY timestamp"):
            job_states[job_id] = event
            for raw in _hyper_parameters(hp):
                params_by_id.setdefault(str(raw.get("parameter_id")), []).append(
                    (ts, raw.get("parameters", {})))
        metrics: dict[str, list[tuple[int, str, str, dict]]] = {}
        for ts, job_id, pid, kind, data in conn.execute(
                "SELECT timestamp, trialJobId, parameterId, type, data FROM MetricData "
                "ORDER BY timestamp"):
            metrics.setdefault(job_id, []).append((ts, str(pid), kind, _metric(data)))
    name = store_name_of(ws, exp_id)
    exp_row = store.experiment(spec, "nni", name=name, study_name=exp_id)
    copied = 0
    for job_id, state in job_states.items():
        rows = metrics.get(job_id, [])
        pid = rows[0][1] if rows else None
        final = [m for _, _, kind, m in rows if kind == "FINAL"]
        curve = [{**{k: v for k, v in m.items() if isinstance(v, int | float)}, "epoch": i + 1}
                 for i, m in enumerate(r[3] for r in rows if r[2] == "PERIODICAL")]
        # the metric names its parameter id; of that id's records, the one issued last before
        # the metric is the set this trial received (ids repeat across resumes)
        params = {}
        if pid is not None:
            issued = [p for ts, p in params_by_id.get(pid, []) if ts <= rows[0][0]]
            params = issued[-1] if issued else {}
        existing = [t for t in store.trials([exp_row]) if t.backend_trial_id == job_id]
        if existing and existing[0].state == "complete":
            continue  # written by the trial itself: the better record
        result = TrialResult(status="complete" if final else (
            "failed" if state in ("FAILED", "SYS_CANCELED") else "pruned"),
            curve=curve, extra={"nni_parameter_id": pid, "imported": True})
        if final:
            value = final[-1].get("default")
            result.student_val_acc = value if spec.objective.metric == "val_acc" else None
            result.student_test_acc = final[-1].get("student_test_acc", (
                value if spec.objective.metric == "test_acc" else None))
            result.teacher_test_acc = final[-1].get("teacher_test_acc")
        elif state == "FAILED":
            result.error = "failed in NNI (imported; see the trial's stderr in NNI's folder)"
        trial_id = store.start_trial(exp_row, job_id, params)
        store.finish_trial(trial_id, result)
        copied += 1
    return name, copied


def _hyper_parameters(data: str | None) -> list[dict[str, Any]]:
    if not data:
        return []
    try:
        value = json.loads(data)
    except ValueError:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except ValueError:
                continue
        if isinstance(item, dict) and "parameters" in item:
            out.append(item)
    return out


def _metric(data: str) -> dict[str, Any]:
    value: Any = data
    for _ in range(3):  # NNI encodes metric data as JSON inside JSON
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                break
    if isinstance(value, int | float):
        return {"default": float(value)}
    return value if isinstance(value, dict) else {}

