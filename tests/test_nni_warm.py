"""Warm NNI trials on real NNI 3.0 experiments: each trial forked by the experiment's trial
server, NNI's trial command a thin client. The store holds what a cold trial stores, for a
trial that completes and for one that crashes (a NaN loss: stored failed with its reason,
the experiment goes on); NNI's Kill stores the trial as failed; a killed client takes its
trial with it; the server ends with the experiment."""

import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests
import yaml
from helpers.nni import KD_AUTOML, SPEC, free_port

from kd_automl.store import Store


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("warm")
    e = {**os.environ, "HOME": str(root / "home"), "KD_AUTOML_WORKSPACE": str(root / "ws"),
         "COLUMNS": "200", "KD_AUTOML_THREADS": "1"}
    return {"root": root, "env": e, "ws": root / "ws"}


def _spec(env, name: str, search=None, seed=0, **train) -> Path:
    path = env["root"] / f"{name}.yaml"
    path.write_text(yaml.safe_dump(dict(SPEC, name=name, seed=seed,
                                        train={**SPEC["train"], **train},
                                        search={**SPEC["search"], **(search or {})})))
    return path


def _env(env, warm: bool, ws: Path | None = None) -> dict:
    return {**env["env"], "KD_AUTOML_NNI_WARM": "1" if warm else "0",
            **({"KD_AUTOML_WORKSPACE": str(ws)} if ws else {})}


def _ok(proc, args, out, err):
    assert proc.returncode == 0, f"kd-automl {' '.join(args)}:\n{out}\n{err}"


def _servers(ws: Path) -> list[psutil.Process]:
    """The workspace's trial servers (not their forked trials, which share the command)."""
    found = {p.pid: p for p in psutil.process_iter(["cmdline", "ppid"])
             if "kd_automl.trials.warm_server" in " ".join(p.info["cmdline"] or [])
             and f"{ws}/" in " ".join(p.info["cmdline"])}
    return [p for p in found.values() if p.info["ppid"] not in found]


def _no_server_left(ws: Path, timeout=30) -> bool:
    deadline = time.time() + timeout
    while _servers(ws) and time.time() < deadline:
        time.sleep(0.3)
    return not _servers(ws)


def _rows(ws: Path, exp_id: str) -> dict:
    """The experiment's search trials in the store, by NNI's trial job id."""
    store = Store(f"sqlite:///{ws / 'kd_automl.db'}")
    exp = next(e for e in store.experiments() if e.study_name == exp_id)
    return {t.backend_trial_id: t for t in store.trials([exp.id], with_epochs=True)
            if t.role == "search"}


def _stored(ws: Path, exp_id: str) -> dict:
    """The experiment's finished search trials by NNI's sequence id."""
    return {t.extra["nni_sequence_id"]: t for t in _rows(ws, exp_id).values()}


def _log(ws: Path, exp_id: str) -> str:
    path = ws / "nni" / "nni-experiments" / exp_id / "trial-server.log"
    return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module")
def kill_start(env):
    """The Kill test's experiment, started (detached) before the first test, in a workspace of
    its own, so that NNI's start-up runs beside the first test's; stopped at the end."""
    ws = env["root"] / "ws-kill"
    # the trials run for hours (killed long before the end); the baseline, at the spec's own
    # 2 epochs, does not hold up the start
    spec = _spec(env, "nni-warm-kill", search={"train.epochs": {"_type": "choice",
                                                                 "_value": [100000]}})
    args = ("nni", "start", str(spec), "--trials", "3", "--concurrency", "1", "--port",
            str(free_port()), "--detach")
    proc = subprocess.Popen([*KD_AUTOML, *args], env=_env(env, True, ws), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = {}

    def result():
        if not started:
            out, err = proc.communicate(timeout=600)
            _ok(proc, args, out, err)
            started.update(ws=ws, out=out,
                           exp_id=re.search(r"experiment (\w+)", out).group(1))
        return started

    yield result
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    exp_id = re.search(r"experiment (\w+)", started.get("out") or "")
    if exp_id:
        subprocess.run([*KD_AUTOML, "nni", "stop", exp_id.group(1)], env=_env(env, True, ws),
                       capture_output=True, timeout=120)


def test_a_warm_trial_stores_what_a_cold_trial_stores_a_crash_included(env, kill_start):
    # seed 2: NNI's seeded TPE sends lr 1e30 first (a NaN loss), then 0.05 (a trial that
    # completes); warm and cold run side by side, each in a workspace of its own
    spec = _spec(env, "nni-warm-same", seed=2,
                 search={"train.lr": {"_type": "choice", "_value": [1e30, 0.05]}})
    ws = {True: env["ws"], False: env["root"] / "ws-cold"}
    args = {w: ("nni", "start", str(spec), "--trials", "2", "--concurrency", "1", "--port",
                str(free_port())) for w in ws}
    procs = {w: subprocess.Popen([*KD_AUTOML, *args[w]], env=_env(env, w, ws[w]), text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for w in ws}
    ids, outs = {}, {}
    try:
        for warm, proc in procs.items():
            outs[warm] = proc.communicate(timeout=600)
    finally:
        for proc in procs.values():  # a failed start: its experiment stops (as Ctrl-C)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.communicate(timeout=120)
    for warm, (out, err) in outs.items():
        _ok(procs[warm], args[warm], out, err)
        ids[warm] = re.search(r"experiment (\w+)", out).group(1)
        assert "Timeout, retry" not in err
        assert "not shown: 1 failed" in out  # the crash did not stop the experiment
    assert _no_server_left(ws[True])  # the foreground start stopped it with the experiment
    log = _log(ws[True], ids[True])
    assert log.count("ended: 0") == 1 and log.count("ended: 1") == 1  # both trials forked
    assert _log(ws[False], ids[False]) == ""  # KD_AUTOML_NNI_WARM=0: no server, cold
    trials = ws[True] / "nni" / "nni-experiments" / ids[True] / "environments"
    logs = list(trials.glob("*/trials/*/trial.log"))
    assert len(logs) == 2  # NNI's umask 077 reached the forked trials, as it reaches cold ones
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in logs), logs
    warm, cold = (_stored(ws[w], ids[w]) for w in (True, False))
    assert sorted(warm) == sorted(cold) == [0, 1]
    assert [warm[0].state, warm[1].state] == ["failed", "complete"]  # and it went on
    assert "diverged" in warm[0].error and warm[0].params["train.lr"] == 1e30
    for seq in warm:
        w, c = warm[seq], cold[seq]
        assert (w.state, w.error) == (c.state, c.error)
        assert w.params == c.params and w.params  # seeded TPE: the same points
        assert w.student_val_acc == c.student_val_acc
        assert w.student_test_acc == c.student_test_acc
        assert [(m.epoch, m.name, m.value) for m in w.epochs] == \
            [(m.epoch, m.name, m.value) for m in c.epochs]
        assert w.extra["nni_trial_job_id"] == w.backend_trial_id  # its own job's record


def _client_of(job: str) -> psutil.Process | None:
    """The process NNI started for trial ``job`` (its environment names the job)."""
    for p in psutil.process_iter(["cmdline"]):
        if "kd_automl.trials.nni" not in " ".join(p.info["cmdline"] or []):
            continue
        try:
            if p.environ().get("NNI_TRIAL_JOB_ID") == job:
                return p
        except psutil.Error:
            continue
    return None


def _wait(predicate, what: str, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_stores_the_trial_failed_and_a_killed_client_takes_its_trial_with_it(
        env, kill_start):
    started = kill_start()
    ws, exp_id = started["ws"], started["exp_id"]
    url = re.search(r"web UI: (http://127\.0\.0\.1:\d+/[\w-]+/)", started["out"]).group(1)
    try:
        def training(skip=()):
            return next((t for t in _rows(ws, exp_id).values() if t.state == "running"
                         and t.backend_trial_id not in skip), None)

        first = _wait(training, "the first trial in training")
        server = _servers(ws)
        assert len(server) == 1 and len(server[0].children()) == 1  # the trial: forked
        job = first.backend_trial_id
        r = requests.delete(f"{url}api/v1/nni/trial-jobs/{job}", timeout=10)  # the UI's Kill
        assert r.status_code == 200, r.text
        killed = _wait(lambda: _rows(ws, exp_id)[job].state != "running" and
                       _rows(ws, exp_id)[job], "the killed trial's row")
        assert killed.state == "failed" and "interrupted" in (killed.error or "")

        def job_status(j):
            jobs = requests.get(f"{url}api/v1/nni/trial-jobs", timeout=10).json()
            return next((x["status"] for x in jobs if x["trialJobId"] == j), None)

        assert _wait(lambda: job_status(job) in ("USER_CANCELED", "FAILED") and job_status(job),
                     "NNI's record of the kill") == "USER_CANCELED"

        second = _wait(lambda: training({job}), "the second trial in training")
        client = _wait(lambda: _client_of(second.backend_trial_id), "its client process")
        child = _wait(lambda: server[0].children(), "its forked child")[0]
        client.kill()  # SIGKILL, as NNI's force kill after its 5 s
        _wait(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE,
              "the forked trial to die with its client", timeout=10)
        _wait(lambda: job_status(second.backend_trial_id) not in (None, "RUNNING"),
              "NNI's record of its end")  # as a SIGKILLed cold trial: NNI's USER_CANCELED
    finally:
        subprocess.run([*KD_AUTOML, "nni", "stop", exp_id], env=_env(env, True, ws),
                       capture_output=True, timeout=120)
    assert _no_server_left(ws)  # `nni stop`: the server followed NNI's manager
    assert "stopped" in _log(ws, exp_id).splitlines()[-1]
