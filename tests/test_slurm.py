"""`kd-automl optuna SPEC --slurm`: a study's workers as one job array of a real Slurm.

A single-node Slurm 22.05 from Debian's packages (``bash .ci/slurm.sh``; ``.ci/run`` starts
it) and PostgreSQL (``KD_AUTOML_TEST_PG``). Tiny digits studies; every test cancels what it
submitted.
"""

import contextlib
import copy
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest
import yaml
from conftest import TINY
from optuna.trial import TrialState

from kd_automl.orchestrate.slurm import scheduler
from kd_automl.orchestrate.work_queue import counts
from kd_automl.store import Store

PG_URL = os.environ.get("KD_AUTOML_TEST_PG")
HAVE_SLURM = shutil.which("sbatch") is not None

pytestmark = [
    pytest.mark.skipif(not HAVE_SLURM and not os.environ.get("CI"),
                       reason="Slurm's sbatch is not on the PATH (bash .ci/slurm.sh installs "
                       "and starts a single-node Slurm)"),
    pytest.mark.skipif(not PG_URL and not os.environ.get("CI"),
                       reason="set KD_AUTOML_TEST_PG to a PostgreSQL URL (bash .ci/postgres.sh "
                       "prints one)"),
]

@pytest.fixture
def study(tmp_path):
    """A spec file of its own study name, its workspace, and the jobs to cancel after."""
    assert HAVE_SLURM, "CI must run these tests: .ci/run starts Slurm (.ci/slurm.sh)"
    assert PG_URL, "CI must run these tests: .ci/run exports KD_AUTOML_TEST_PG"
    name = f"slurm-{uuid.uuid4().hex[:8]}"
    jobs: list[str] = []

    def make(slow=False, **train):
        data = copy.deepcopy(TINY)
        data["name"] = name
        data["train"].update({"epochs": 2, **train})  # 2-epoch trials unless told
        if slow:  # seconds per trial: a signal finds one running
            data["student"] = {"arch": "cnn", "width": 8}
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    yield type("S", (), {"name": name, "make": make, "ws": tmp_path / "ws", "jobs": jobs})
    for job in jobs:
        subprocess.run(["scancel", job], capture_output=True)


def _cli(*args, ws, **kw):
    env = {**os.environ, "KD_AUTOML_WORKSPACE": str(ws), "KD_AUTOML_HEARTBEAT_S": "2",
           "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "kd_automl", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _submit(s, spec, trials, workers):
    """``--detach``: the job id on stdout."""
    proc = _cli("optuna", str(spec), "--trials", str(trials), "--slurm", "--workers",
                str(workers), "--db", PG_URL, "--threads", "1", "--detach", ws=s.ws)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    job = out.strip().splitlines()[-1]
    s.jobs.append(job)
    return job


def _study(name):
    return optuna.load_study(study_name=name, storage=PG_URL)


def _wait(what, check, timeout=120, every=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()):
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(name, role="search"):
    store = Store(PG_URL)
    try:
        return [t for t in store.trials(role=role) if t.experiment.name == name]
    finally:
        store.dispose()


def _same_params(trials, params):
    return [t for t in trials if t.params == params]


def test_bad_requests_are_refused_before_anything_is_submitted(study, tmp_path):
    spec = study.make()
    before = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True,
                            text=True).stdout

    def refused(*args, db=PG_URL):
        proc = _cli("optuna", str(spec), "--trials", "2", "--slurm", "--db", db, *args,
                    ws=study.ws)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        return " ".join(err.split())

    said = refused("--partition", "nope")
    assert "invalid partition specified: nope" in said and "nothing was submitted" in said
    said = refused("--gpus-per-worker", "1")
    assert "cannot meet --gpus-per-worker 1" in said
    assert "Invalid generic resource (gres) specification" in said
    said = refused(db=f"sqlite:///{tmp_path / 'x.db'}")
    assert "SQLite" in said and "--single-node" in said and "1 node(s)" in said
    env_path = {"PATH": "/nonexistent"}
    proc = subprocess.run([sys.executable, "-m", "kd_automl", "optuna", str(spec), "--slurm",
                           "--db", PG_URL], env={**os.environ, **env_path},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "needs Slurm's sbatch on the PATH" in proc.stderr
    after = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    assert after == before
    assert not (study.ws / "slurm").exists()


def test_twelve_trials_through_three_array_tasks(study):
    spec = study.make()
    proc = _cli("optuna", str(spec), "--trials", "12", "--slurm", "--workers", "3",
                "--db", PG_URL, "--threads", "1", ws=study.ws)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    job = err.split("submitted job ")[1].split(":")[0]
    study.jobs.append(job)
    assert "[12/12]" in err and f"12 trial(s) run by job {job}" in " ".join(out.split())
    s = _study(study.name)
    assert counts(s) == (12, 0)  # 12 finished, none left running
    rows = _rows(study.name)
    assert len(rows) == 12 and all(t.state == "complete" for t in rows)
    assert len({tuple(sorted(t.params.items())) for t in rows}) == 12  # 12 distinct trials
    tasks = scheduler.show_job(job)
    assert sorted(scheduler.task_name(t) for t in tasks) == [f"{job}_{i}" for i in range(3)]
    assert all(t["JobState"] == "COMPLETED" for t in tasks)
    shown = subprocess.run([sys.executable, "-m", "kd_automl", "cluster", "status", job,
                            "-w", str(study.ws)], capture_output=True, text=True, timeout=60)
    assert f"study {study.name}: 12 of 12 trials finished, 0 running" in shown.stdout
    logs = subprocess.run([sys.executable, "-m", "kd_automl", "cluster", "log", job,
                           "-w", str(study.ws)], capture_output=True, text=True, timeout=60)
    assert logs.stdout.count("joining study") == 3, logs.stdout


def test_a_cancelled_task_s_trial_is_retried_once_and_the_study_finishes(study):
    spec = study.make(epochs=12)
    job = _submit(study, spec, 6, 3)
    # every task is in a trial: then one task is cancelled mid-trial
    _wait("three running trials", lambda: counts(_study(study.name))[1] >= 3, timeout=150)
    subprocess.run(["scancel", f"{job}_1"], check=True)
    _wait("the study's 6 trials", lambda: counts(_study(study.name)) == (6, 0), timeout=180)
    s = _study(study.name)
    stopped = [t for t in s.trials if t.state == TrialState.FAIL]
    assert len(stopped) == 1, [(t.number, t.state, t.user_attrs) for t in s.trials]
    again = [t for t in s.trials if t.params == stopped[0].params
             and t.number != stopped[0].number]
    assert len(again) == 1 and again[0].state == TrialState.COMPLETE  # retried once
    rows = _rows(study.name)
    failed = [t for t in rows if t.state == "failed"]
    assert len(failed) == 1 and failed[0].error in ("interrupted", "worker lost")
    assert len([t for t in rows if t.state == "complete"]) == 6


def _log(s, task):
    path = s.ws / "slurm" / "jobs" / task / f"{task}_0_log.out"
    return path.read_text() if path.exists() else ""


def _time_limit_in(task, left_s):
    """Move the task's time limit (whole minutes) to ``left_s`` seconds or a little more from
    now: Slurm then sends the time-limit signal as it would near any limit."""
    job = scheduler.show_job(task)[0]
    h, m, sec = ([0, 0] + [int(x) for x in job["RunTime"].split("-")[-1].split(":")])[-3:]
    minutes = -(-(3600 * h + 60 * m + sec + left_s) // 60)
    subprocess.run(["scontrol", "update", f"JobId={task}", f"TimeLimit={minutes}"], check=True)


def test_a_task_at_its_time_limit_requeues_itself_and_continues_its_trial(study, tmp_path):
    """Task 1 is in its trial (a checkpoint written) when its time limit comes near: it
    stores the trial interrupted, requeues itself, and the requeued task continues the trial
    from its checkpoint. Task 0 gets a user's scancel TERM as it starts, before any trial or
    baseline row: it ends cleanly, stores nothing and is not requeued."""
    spec = study.make(slow=True, epochs=10, checkpoint_every=1)
    profile = tmp_path / "cluster.yaml"  # signalled 120 s before the limit (the default)
    profile.write_text(yaml.safe_dump({"cluster": {"workers": 2, "time": "10"}}))
    proc = _cli("optuna", str(spec), "--trials", "1", "--cluster", str(profile), "--db",
                PG_URL, "--threads", "1", "--detach", ws=study.ws)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    job = out.strip().splitlines()[-1]
    study.jobs.append(job)
    first, other = f"{job}_0", f"{job}_1"
    _wait("task 0 to start", lambda: "joining study" in _log(study, first), every=0.05)
    subprocess.run(["scancel", "--signal=TERM", first], check=True)  # a user's scancel

    def checkpointed():
        metas = list((study.ws / "checkpoints").glob("*/*/state.json"))
        return metas and yaml.safe_load(metas[0].read_text())["epoch"] >= 1

    _wait("a checkpoint", checkpointed, timeout=150, every=0.05)
    # the trial waits (SIGSTOP) for Slurm's time-limit check, every 30 s: Slurm's signal
    # sends SIGCONT first, so the trial goes on only as the signal arrives, mid-trial
    pid = int(_log(study, other).split(", pid ")[1].split()[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        # 45 to 105 s left: under the 120 s lead, so Slurm signals at its next check, and
        # the kill is far enough to store the trial and requeue
        _time_limit_in(other, 45)
        _wait("task 1 to requeue itself", lambda: f"requeued task {other}" in _log(study, other),
              timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):  # ended already by its requeue
            os.kill(pid, signal.SIGCONT)
    subprocess.run(["scontrol", "update", f"JobId={other}", "TimeLimit=10"], check=True)
    _wait("the study's trial", lambda: counts(_study(study.name)) == (1, 0), timeout=180)
    _wait("both tasks to end", lambda: not scheduler.queued(job), timeout=60)
    said = _log(study, first)
    assert "stopped by SIGTERM" in said and "requeued" not in said, said
    assert "stopped by the time limit" in _log(study, other)
    shown = {scheduler.task_name(t): t for t in scheduler.show_job(job)}
    assert shown[first]["Restarts"] == "0" and shown[first]["JobState"] == "COMPLETED"
    assert shown[other]["Restarts"] == "1" and shown[other]["JobState"] == "COMPLETED"
    assert not _rows(study.name, role="baseline")  # task 0 stopped before its row
    rows = _rows(study.name)
    done = [t for t in rows if t.state == "complete"]
    stopped = [t for t in rows if t.state == "failed"]
    assert len(done) == 1 and len(stopped) == 1 and stopped[0].error == "interrupted"
    assert stopped[0].params == done[0].params  # one trial, continued, not run twice
    at = stopped[0].extra["checkpoint_epoch"]
    assert 1 <= at < 10
    assert done[0].extra["checkpoint"] == [f"resumed from the checkpoint after epoch {at}"]
    assert len(_study(study.name).trials) == 2  # the interrupted trial and its retry


def test_ctrl_c_of_the_launching_command_leaves_no_job(study):
    spec = study.make(slow=True, epochs=10, checkpoint_every=1)
    proc = _cli("optuna", str(spec), "--trials", "6", "--slurm", "--workers", "2",
                "--db", PG_URL, "--threads", "1", ws=study.ws)
    _wait("a trial in training", lambda: list((study.ws / "checkpoints").glob("*/*/state.json")),
          timeout=150, every=0.1)
    job = (study.ws / "slurm").glob("*.json").__next__().stem
    study.jobs.append(job)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert f"job {job} cancelled" in err and "no task is left" in err
    assert scheduler.queued(job) == []
    assert counts(_study(study.name))[1] == 0  # the tasks stored their trials as interrupted
    interrupted = [t for t in _rows(study.name) if t.state == "failed"]
    assert interrupted and all(t.error == "interrupted" for t in interrupted)
