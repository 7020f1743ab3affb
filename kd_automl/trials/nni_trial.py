"""One NNI trial: take the parameters NNI sends, run the engine, report, store.

Run by NNI's trial command (:mod:`kd_automl.trials.nni`) in a process of its own (cold), or in
a child forked by the experiment's warm trial server (:mod:`kd_automl.trials.warm_server`).
Thin on purpose: the parameters and their parameter id are recorded from *inside* the trial,
as received, because NNI 3.0 may pair a trial job with another trial's parameters in its own
records when trials run concurrently (NNI issue 5726).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from pathlib import Path

from kd_automl.extras import NNI_MISSING

try:
    import nni
except ImportError:  # run by NNI only; by hand without NNI, say how to install it
    sys.exit(NNI_MISSING)

from kd_automl.engine import TrialResult
from kd_automl.orchestrate.recording import run_sampled
from kd_automl.orchestrate.runner import PlannedList, PlannedTrial, run_trials
from kd_automl.orchestrate.threads import set_trial_threads
from kd_automl.spec import ExperimentSpec, load_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

BUDGET_KEY = "TRIAL_BUDGET"  # sent by NNI's Hyperband/BOHB: mapped to train.epochs


class NNIReporter:
    """Each epoch's objective goes to NNI (for its assessor and web UI)."""

    def __init__(self, metric: str):
        self.metric = metric

    def report_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.metric in metrics:
            extra = {k: v for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v)}
            nni.report_intermediate_result({**extra, "default": metrics[self.metric],
                                            "epoch": epoch})

    def report_final(self, result: TrialResult) -> None:
        pass


class StoppedByNNI(BaseException):
    pass


def _on_sigterm(signum, frame):
    raise StoppedByNNI()


_SPECS: dict[str, tuple[tuple[int, int], ExperimentSpec]] = {}  # path -> (its stamp, spec)


def _spec(path: str) -> ExperimentSpec:
    """The spec at ``path``, checked once per version of the file in a process (the warm
    server's children find it checked)."""
    try:
        info = os.stat(path)
    except OSError:  # a ready spec's name, or missing: load_spec says which
        return load_spec(path)
    stamp = (info.st_mtime_ns, info.st_size)
    hit = _SPECS.get(path)
    if hit is None or hit[0] != stamp:
        hit = _SPECS[path] = (stamp, load_spec(path))
    return hit[1]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--concurrency", type=int, default=None,
                    help="trials running at once: each takes its share of the cores")
    return ap


def warm_up(argv: list[str]) -> list[str]:
    """In the warm trial server, before it forks a trial of ``argv``: what every such trial
    would read first, read once (the spec's checks, the store's schema, the data set, a
    cached teacher's weights), so each forked trial finds it in memory. Never trains, never
    touches a GPU, holds no database connection; what fails is left to the trial. The steps
    that failed, with why."""
    import torch

    from kd_automl.engine.teacher import teacher_cached, train_teacher
    from kd_automl.engine.trial import get_dataset

    args, _ = _parser().parse_known_args(argv)
    spec, workspace, failed = None, Workspace(Path(args.workspace)), []
    steps = [("spec", lambda: _spec(args.spec)),
             ("store", lambda: Store(args.db).engine.dispose()),
             ("data", lambda: get_dataset(spec)),
             ("teacher", lambda: teacher_cached(spec, workspace) and train_teacher(
                 spec, get_dataset(spec), workspace, torch.device("cpu")))]
    for name, step in steps:
        if name != "spec" and spec is None:
            break
        try:
            value = step()
        except Exception as err:
            failed.append(f"{name}: {type(err).__name__}: {err}")
            continue
        if name == "spec":
            spec = value
    return failed


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    set_trial_threads(args.concurrency)

    params = nni.get_next_parameter() or {}
    record = nni.trial._params or {}  # NNI 3.0 has no public getter for the parameter id
    parameter_id = record.get("parameter_id")
    job_id = nni.get_trial_id()
    spec = _spec(args.spec)
    store = Store(args.db)
    exp_id = store.experiment(spec, "nni", name=args.experiment,
                              study_name=nni.get_experiment_id())
    sampled = {k: v for k, v in params.items() if k != BUDGET_KEY}
    if BUDGET_KEY in params:
        sampled["train.epochs"] = max(1, round(params[BUDGET_KEY]))

    workspace = Workspace(Path(args.workspace))

    def run() -> TrialResult:
        signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return run_sampled(spec, sampled, workspace, NNIReporter(spec.objective.metric),
                               source=f"NNI trial {job_id}",
                               on_student=lambda student: setattr(trial, "student", student))
        except StoppedByNNI:
            return TrialResult(status="pruned",
                               error="stopped by NNI (assessor or experiment stop)")

    trial = PlannedTrial(job_id, None, params, run=run, extra=dict(
        nni_parameter_id=parameter_id, nni_trial_job_id=job_id,
        nni_sequence_id=nni.get_sequence_id(), nni_params=params))
    # stopped halfway: stored as interrupted; the spec's ``artifacts:`` policy keeps weights
    run_trials(PlannedList([trial], spec=spec), store, exp_id, workspace)
    result = trial.result
    if result.status != "complete":
        print(f"trial {result.status}: {result.error}", file=sys.stderr)
        return 1
    nni.report_final_result({
        "default": result.objective(spec.objective.metric),
        "parameter_id": parameter_id, "params": params, "kd_trial_id": trial.store_id,
        "student_test_acc": result.student_test_acc, "teacher_test_acc": result.teacher_test_acc,
    })
    return 0

