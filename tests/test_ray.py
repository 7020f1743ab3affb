"""`kd-automl optuna SPEC --ray ADDRESS`: a study's workers as actors of a real Ray cluster.

Two Ray nodes on this host in a loopback-only network namespace (``bash .ci/ray.sh``: started
here when not up, stopped at the end if started here) and PostgreSQL (``KD_AUTOML_TEST_PG``,
bridged into the namespace on the same port). The commands run in the namespace (``ip netns
exec``); tiny digits studies.
"""

import contextlib
import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import psutil
import pytest
import yaml
from conftest import TINY
from optuna.trial import TrialState

from kd_automl.orchestrate.work_queue import counts, finished_count
from kd_automl.store import Store

PG_URL = os.environ.get("KD_AUTOML_TEST_PG")
RAY_SH = Path(__file__).resolve().parents[1] / ".ci" / "ray.sh"
NS = os.environ.get("KD_AUTOML_RAY_NS", "kd-automl-ray")
CAN_NETNS = os.geteuid() == 0 and shutil.which("ip") is not None

pytestmark = [
    pytest.mark.skipif(not CAN_NETNS and not os.environ.get("CI"),
                       reason="needs root and `ip netns` (the cluster runs in a namespace)"),
    pytest.mark.skipif(not PG_URL and not os.environ.get("CI"),
                       reason="set KD_AUTOML_TEST_PG to a PostgreSQL URL on 127.0.0.1 (bash "
                       ".ci/postgres.sh prints one)"),
]

def _ray_sh(*args, check=True):
    return subprocess.run(["bash", str(RAY_SH), *args], capture_output=True, text=True,
                          check=check, timeout=300)


@pytest.fixture(scope="module")
def cluster():
    """The two-node cluster's address (started here unless it is up)."""
    assert CAN_NETNS and PG_URL, "CI must run these tests as root with KD_AUTOML_TEST_PG"
    was_up = NS in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                  text=True).stdout
    address = _ray_sh().stdout.strip().splitlines()[-1]
    yield address
    if was_up:  # someone else's cluster: leave it with both nodes
        _ray_sh("node", check=False)
    else:
        _ray_sh("stop", check=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """One workspace for the file's studies, its teacher trained here (a local one-trial
    search): no test's actors start with one of them training it while the other waits."""
    ws = tmp_path_factory.mktemp("ray-ws")
    spec = ws / "teacher.yaml"
    spec.write_text(yaml.safe_dump({**TINY, "name": "ray-teacher"}))
    subprocess.run([sys.executable, "-m", "kd_automl", "optuna", str(spec), "--trials", "1"],
                   env={**os.environ, "KD_AUTOML_WORKSPACE": str(ws), "OMP_NUM_THREADS": "1"},
                   check=True, capture_output=True, timeout=300)
    return ws


@pytest.fixture
def study(tmp_path, workspace):
    name = f"ray-{uuid.uuid4().hex[:8]}"

    def make(slow=False, **train):
        data = copy.deepcopy(TINY)
        data["name"] = name
        data["train"].update({"epochs": 2, **train})  # 2-epoch trials unless told
        if slow:  # seconds per trial: a stop finds one running
            data["student"] = {"arch": "cnn", "width": 8}
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return type("S", (), {"name": name, "make": make, "ws": workspace})


def _cli(*args, ws, netns=True):
    env = {**os.environ, "KD_AUTOML_WORKSPACE": str(ws), "KD_AUTOML_HEARTBEAT_S": "2",
           "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "kd_automl", *args]
    return subprocess.Popen((["ip", "netns", "exec", NS] if netns else []) + cmd, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _optuna(s, spec, trials, address, *more):
    return _cli("optuna", str(spec), "--trials", str(trials), "--ray", address, "--db", PG_URL,
                "--study", s.name, *more, ws=s.ws)


def _study(name):
    return optuna.load_study(study_name=name, storage=PG_URL)


def _running(name):
    try:
        return counts(_study(name))[1]
    except KeyError:  # not created yet
        return 0


def _wait(what, check, timeout=240, every=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()):
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(name):
    store = Store(PG_URL)
    try:
        return [t for t in store.trials(role="search") if t.experiment.name == name]
    finally:
        store.dispose()


def _actors_left():
    """Processes of worker actors in the namespace (Ray titles them ray::KDWorker...)."""
    left = []
    out = subprocess.run(["ip", "netns", "pids", NS], capture_output=True, text=True).stdout
    for pid in out.split():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "KDWorker" in title:
            left.append((pid, title.strip()))
    return left


def _nodes(out):
    """{node: trials} from the command's closing lines."""
    return {m[1]: int(m[2]) for m in re.finditer(r"actor \S+ on node (\w+): (\d+) trial", out)}


def test_bad_address_and_no_ray_are_one_line_each(study, monkeypatch, capsys):
    spec = study.make()
    proc = _cli("optuna", str(spec), "--trials", "2", "--ray", "127.0.0.1:1", "--db", PG_URL,
                ws=study.ws, netns=False)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2, err  # one message (rich may wrap it once)
    from kd_automl.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as without the extra
    monkeypatch.setenv("KD_AUTOML_WORKSPACE", str(study.ws / "no-ray"))
    with pytest.raises(SystemExit) as exit:
        main(["optuna", str(spec), "--ray", "auto", "--db", PG_URL])
    assert exit.value.code == 1
    assert capsys.readouterr().err.strip() == \
        'error: --ray needs Ray, which is not installed: pip install "kd-automl[ray]"'


def test_a_study_through_actors_on_both_nodes(cluster, study):
    # about 2 s a trial, the teacher trained: 2-epoch MLP trials (0.2 s) let one actor run
    # them all while the other was still starting
    spec = study.make(slow=True, epochs=40)
    proc = _optuna(study, spec, 6, cluster, "--workers", "2")
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    assert "[6/6]" in err and "6 trial(s) run by 2 Ray actor(s)" in " ".join(out.split())
    nodes = _nodes(out)
    assert len(nodes) == 2 and all(n >= 1 for n in nodes.values()), out  # both nodes ran some
    assert sum(nodes.values()) == 6
    assert counts(_study(study.name)) == (6, 0)
    rows = _rows(study.name)
    assert len(rows) == 6 and all(t.state == "complete" for t in rows)
    assert len({tuple(sorted(t.params.items())) for t in rows}) == 6
    assert not _actors_left()


def test_ctrl_c_stores_the_actors_trials_interrupted_and_a_resume_finishes_them(cluster,
                                                                               study):
    spec = study.make(slow=True, epochs=60, checkpoint_every=1)  # about 10 s a trial
    proc = _optuna(study, spec, 4, cluster, "--workers", "2")
    _wait("two trials in training", lambda: len(
        list((study.ws / "checkpoints" / study.name).glob("*/state.json"))) >= 2, every=0.2)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    said = " ".join(err.split())
    assert "stored their running trials as interrupted" in said, said
    assert not _actors_left()
    assert counts(_study(study.name))[1] == 0  # nothing left running
    interrupted = [t for t in _rows(study.name) if t.state == "failed"]
    assert interrupted and all(t.error == "interrupted" for t in interrupted)
    owed = 4 - finished_count(_study(study.name))
    again = _optuna(study, spec, owed, cluster, "--workers", "2")
    _, err = again.communicate(timeout=400)
    assert again.returncode == 0, err
    assert finished_count(_study(study.name)) == 4
    complete = [t for t in _rows(study.name) if t.state == "complete"]
    assert len(complete) == 4
    for t in interrupted:  # each continued once, with its own parameters
        assert len([c for c in complete if c.params == t.params]) == 1, (t.params, complete)


def test_a_killed_node_s_trial_is_retried_once_and_the_study_finishes(cluster, study):
    spec = study.make(slow=True, epochs=60)  # about 10 s: the kill finds node 2's running
    # half a CPU each: the node that stays holds the restarted actor too
    proc = _optuna(study, spec, 3, cluster, "--workers", "2", "--cpus-per-worker", "0.5")
    _wait("a trial on each node", lambda: _running(study.name) >= 2)
    # node 2 is lost: its raylet and every process under it (its actor's worker among them)
    # at once, as a machine that goes down; a raylet killed alone leaves its worker running
    # for a few seconds, long enough on an idle machine to finish its trial
    raylet = psutil.Process(int(_ray_sh("node-pids").stdout.split()[0]))
    for p in [*raylet.children(recursive=True), raylet]:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    s = _study(study.name)
    assert counts(s) == (3, 0)
    lost = [t for t in s.trials if t.state == TrialState.FAIL]
    assert len(lost) == 1, [(t.number, t.state, t.user_attrs) for t in s.trials]
    again = [t for t in s.trials if t.params == lost[0].params and t.number != lost[0].number]
    assert len(again) == 1 and again[0].state == TrialState.COMPLETE  # retried once
    rows = _rows(study.name)
    failed = [t for t in rows if t.state == "failed"]
    assert len(failed) == 1 and failed[0].error == "worker lost"
    assert len([t for t in rows if t.state == "complete"]) == 3  # none ran twice more
    assert not _actors_left()
