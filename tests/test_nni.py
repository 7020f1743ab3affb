"""Real NNI 3.0 experiments on digits, launched through the kd-automl command.

Each command runs in a subprocess with HOME pointed at a temp folder, as a
user's shell would run it. One experiment (``finished``) serves most tests, the secret URL
prefix's checks included: on no command line while it runs, in no file another local user
can read.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
import yaml
from helpers.nni import KD_AUTOML, SPEC, free_port

from kd_automl import load_student
from kd_automl.files import sha256_of
from kd_automl.store import Store

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
AS_NOBODY = os.geteuid() == 0 and shutil.which("setpriv") is not None


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The workspace and HOME of every command here. As root (setpriv can act as user
    nobody), a folder every local user may enter: pytest's own tmp folder is private, so a
    file in it would be unreadable to others whatever its mode."""
    if AS_NOBODY:
        root = Path(tempfile.mkdtemp(prefix="kd-nni-", dir="/tmp"))
        root.chmod(0o755)
    else:
        root = tmp_path_factory.mktemp("nni")
    spec = root / "nni_tiny.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    e = {**os.environ, "HOME": str(root / "home"), "KD_AUTOML_WORKSPACE": str(root / "ws"),
         "COLUMNS": "200"}
    yield {"root": root, "spec": spec, "env": e, "ws": root / "ws", "leaks": []}
    if AS_NOBODY:
        shutil.rmtree(root, ignore_errors=True)


def _cmdlines() -> dict[int, bytes]:
    out = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                out[int(proc.name)] = (proc / "cmdline").read_bytes()
            except OSError:
                pass
    return out


def _nobody_reads(path: Path) -> bool:
    return subprocess.run([*NOBODY, "cat", str(path)], capture_output=True).returncode == 0


def kd(env, *args, timeout=300, check=True):
    proc = subprocess.run([*KD_AUTOML, *args], env=env["env"], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kd-automl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def wait_done(base: str, timeout: float = 300, each=None, poll_s: float = 1.0) -> str:
    """Poll the experiment's status until it ends; ``each()`` runs at every poll."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if each:
            each()
        r = requests.get(f"{base}api/v1/nni/check-status", timeout=5)
        assert r.status_code == 200, r.text  # the printed URL works
        status = r.json()
        if status["status"] in ("DONE", "ERROR", "STOPPED"):
            return status["status"]
        time.sleep(poll_s)
    raise AssertionError("experiment did not finish in time")


def launch(env, *args):
    out = kd(env, *args).stdout
    url = re.search(r"web UI: (http://127\.0\.0\.1:\d+/[\w-]+/)", out).group(1)
    exp_id = re.search(r"experiment (\w+)|resumed (\w+)", out)
    return url, next(g for g in exp_id.groups() if g)


def launch_view(env, exp_id):
    out = kd(env, "nni", "view", exp_id, "--port", str(free_port()), "--detach").stdout
    return re.search(r"web UI: (http://127\.0\.0\.1:\d+/[\w-]+/)", out).group(1), exp_id


@pytest.fixture(scope="module")
def finished(env):
    """One experiment: 4 trials, 2 at a time, left running (detached) for inspection. While
    it runs (manager, tuner, trials), every process's command line is searched for its
    secret prefix (``env["leaks"]``)."""
    url, exp_id = launch(env, "nni", "start", str(env["spec"]), "--trials", "4",
                         "--concurrency", "2", "--port", str(free_port()), "--detach")
    secret = url.rstrip("/").rsplit("/", 1)[1].encode()

    def no_prefix_on_a_command_line():
        env["leaks"] += [(pid, c) for pid, c in _cmdlines().items() if secret in c]

    yield url, exp_id, wait_done(url, each=no_prefix_on_a_command_line, poll_s=0.5)
    kd(env, "nni", "stop", exp_id, check=False)


def test_trials_succeed_and_land_in_the_store_with_their_own_parameters(env, finished):
    url, exp_id, status = finished
    assert status == "DONE"
    jobs = requests.get(f"{url}api/v1/nni/trial-jobs", timeout=5).json()
    assert len(jobs) == 4 and {j["status"] for j in jobs} == {"SUCCEEDED"}
    metrics = requests.get(f"{url}api/v1/nni/metric-data", timeout=5).json()
    finals = {m["trialJobId"]: json.loads(json.loads(m["data"])) for m in metrics
              if m["type"] == "FINAL"}
    assert set(finals) == {j["trialJobId"] for j in jobs}

    store = Store(f"sqlite:///{env['ws'] / 'kd_automl.db'}")
    exp = [e for e in store.experiments() if e.backend == "nni"]
    assert len(exp) == 1 and exp[0].name == f"nni-tiny-{exp_id}" and exp[0].study_name == exp_id
    trials = {t.backend_trial_id: t for t in store.trials([exp[0].id], with_epochs=True)
              if t.role == "search"}
    assert set(trials) == set(finals)
    for job_id, final in finals.items():
        t = trials[job_id]
        # the store holds what the trial received and trained with, as the trial reported it
        assert t.params == final["params"]
        assert t.extra["nni_parameter_id"] == final["parameter_id"]
        assert t.student_val_acc == pytest.approx(final["default"])
        assert t.state == "complete"
        assert sorted({m.epoch for m in t.epochs if m.name == "val_acc"}) == [1, 2]
    # the per-epoch results NNI shows are the curve the store holds
    for m in metrics:
        if m["type"] == "PERIODICAL":
            data = json.loads(json.loads(m["data"]))
            stored = {e.epoch: e.value for e in trials[m["trialJobId"]].epochs
                      if e.name == "val_acc"}
            assert stored[data["epoch"]] == pytest.approx(data["default"])
    baseline = [t for t in store.trials([exp[0].id]) if t.role == "baseline"]
    assert len(baseline) == 1 and baseline[0].state == "complete"
    # each trial process kept its student (4 trials, the default top 5) where the store says
    for t in trials.values():
        w = t.weights
        assert w is not None and w.path.is_file() and sha256_of(w.path) == w.sha256
        assert w.path.parent.name == str(t.id)
    assert load_student(trials[job_id].weights.path).training is False


def test_the_prefix_is_on_no_command_line_and_in_no_file_others_can_read(env, finished):
    url, exp_id, status = finished
    assert status == "DONE"
    assert not env["leaks"], f"prefix on a command line: {env['leaks']}"
    if not AS_NOBODY:
        pytest.skip("needs root and setpriv(1) to act as user nobody")
    control = env["root"] / "readable.txt"
    control.write_text("x")
    control.chmod(0o644)
    assert _nobody_reads(control)  # the checks below mean something
    secret = url.rstrip("/").rsplit("/", 1)[1].encode()
    ws = env["ws"]
    home = ws / "nni"
    for folder in [home, home / "nni-experiments", home / "nni-experiments" / exp_id]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    # the files holding the prefix, found by grep: opening and closing the store's files
    # here would drop this process's SQLite locks on them (POSIX locks are per process), and
    # this process's later reads of the store (the Ctrl-C test) saw none of its new rows
    found = subprocess.run(["grep", "-rlZF", "-e", secret.decode(), str(ws)],
                           capture_output=True, text=True)
    assert found.returncode in (0, 1), found.stderr
    holding = [Path(p) for p in found.stdout.split("\0") if p]
    for path in holding:
        assert path.is_file() and not path.is_symlink(), path
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        assert not _nobody_reads(path), path
    assert holding  # the secret file that `stop` reads, at least
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert not _nobody_reads(path), path


def test_the_manager_looks_for_ended_trials_every_tenth_of_a_second(env, finished):
    """The guard replaced NNI's fixed 0.5 s manager poll (about 0.9 s lost per trial) in the
    manager that ran the experiment, and NNI's own log says so."""
    _, exp_id, status = finished
    assert status == "DONE"
    log = (env["ws"] / "nni" / "nni-experiments" / exp_id / "log" / "nnimanager.log").read_text()
    assert "kd-automl: the trial loop looks every 0.1 s (NNI's 0.5 s)" in log
    assert log.index("kd-automl: the trial loop") < log.index("submitTrialJob")


def test_web_ui_is_closed_without_the_secret_prefix(finished):
    url, _, _ = finished
    base = url.rsplit("/", 2)[0]
    prefix = url.rstrip("/").rsplit("/", 1)[1]
    assert requests.get(url, timeout=5).status_code == 200
    for path in ("/", "/api/v1/nni/check-status", "/api/v1/nni/trial-jobs",
                 "/api/v1/nni/export-data", f"/{prefix[:-1]}/api/v1/nni/trial-jobs"):
        r = requests.get(base + path, timeout=5)
        assert r.status_code == 404 and r.text == "Not Found"
        assert prefix not in r.text


def test_list_shows_the_web_ui_to_the_user_who_launched_it(env, finished):
    url, exp_id, _ = finished
    listed = kd(env, "nni", "list").stdout
    assert re.search(rf"{exp_id}\s.*{re.escape(url)}", listed), listed
    if os.geteuid() != 0:
        return
    # the secret prefix is its owner's: even root is not shown another user's
    secret = env["ws"] / "nni" / "secrets" / exp_id
    owner = secret.stat()
    os.chown(secret, 65534, 65534)  # nobody
    try:
        listed = kd(env, "nni", "list").stdout
    finally:
        os.chown(secret, owner.st_uid, owner.st_gid)
    prefix = url.rstrip("/").rsplit("/", 1)[1]
    assert exp_id in listed and prefix not in listed


def test_web_ui_lists_the_trials_in_a_browser(finished, tmp_path):
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_bin):
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium and chromium-driver (.ci/run installs)")
        pytest.skip("chromium / chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    url, exp_id, _ = finished
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}"):
        opts.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver_bin), options=opts)
    try:
        browser.set_window_size(1400, 1000)
        browser.get(url + "detail")
        jobs = requests.get(f"{url}api/v1/nni/trial-jobs", timeout=5).json()
        ids = [j["trialJobId"] for j in jobs]
        WebDriverWait(browser, 60).until(
            lambda b: all(i in b.find_element("tag name", "body").text for i in ids))
        text = browser.find_element("tag name", "body").text
        assert "SUCCEEDED" in text.upper()
        artifacts = Path("test-artifacts")
        artifacts.mkdir(exist_ok=True)
        browser.save_screenshot(str(artifacts / "nni_web_ui_trials.png"))
    finally:
        browser.quit()


def test_stop_resume_adds_trials_and_import_pairs_metrics_by_parameter_id(env, finished):
    url, exp_id, _ = finished
    assert "stopped" in kd(env, "nni", "stop", exp_id).stdout
    listed = kd(env, "nni", "list").stdout
    assert exp_id in listed and "STOPPED" in listed and url not in listed  # no longer served
    url, resumed = launch(env, "nni", "resume", exp_id, "--trials", "6", "--port",
                          str(free_port()), "--detach")
    assert resumed == exp_id
    try:
        assert wait_done(url) == "DONE"
        jobs = requests.get(f"{url}api/v1/nni/trial-jobs", timeout=5).json()
        assert len(jobs) == 6 and {j["status"] for j in jobs} == {"SUCCEEDED"}
    finally:
        kd(env, "nni", "stop", exp_id)
    store = Store(f"sqlite:///{env['ws'] / 'kd_automl.db'}")
    exp = [e for e in store.experiments() if e.backend == "nni"][0]
    search = [t for t in store.trials([exp.id]) if t.role == "search"]
    assert len(search) == 6 and all(t.state == "complete" for t in search)

    # view serves the finished experiment read-only, under a new secret prefix
    url, viewed = launch_view(env, exp_id)
    try:
        assert requests.get(f"{url}api/v1/nni/check-status", timeout=5).json()["status"] == \
            "VIEWED"
        assert len(requests.get(f"{url}api/v1/nni/trial-jobs", timeout=5).json()) == 6
    finally:
        kd(env, "nni", "stop", exp_id)

    # import into a fresh database: every trial, its params from the metric's parameter id
    other = f"sqlite:///{env['root'] / 'imported.db'}"
    out = kd(env, "nni", "import", exp_id, "--db", other).stdout
    assert "imported 6 trial(s)" in out
    imported = {t.backend_trial_id: t for t in Store(other).trials() if t.role == "search"}
    assert set(imported) == {t.backend_trial_id for t in search}
    for t in search:
        assert imported[t.backend_trial_id].params == t.params
        assert imported[t.backend_trial_id].student_val_acc == pytest.approx(t.student_val_acc)


def test_port_in_use_and_unknown_experiment_are_clear_errors(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = kd(env, "nni", "start", str(env["spec"]), "--port", str(port), check=False)
    assert proc.returncode == 1 and f"port {port} is in use" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = kd(env, "nni", "resume", "nosuchexp", "--port", str(free_port()), check=False)
    assert proc.returncode == 1 and "no NNI experiment 'nosuchexp'" in proc.stderr
    proc = kd(env, "nni", "start", str(env["spec"]), "--tuner", "Magic", check=False)
    assert proc.returncode == 1 and "unknown tuner" in proc.stderr


def test_ctrl_c_stops_the_experiment_and_keeps_finished_trials(env, tmp_path):
    import signal

    spec = dict(SPEC, name="nni-interrupted", train={**SPEC["train"], "epochs": 4})
    path = tmp_path / "interrupted.yaml"
    path.write_text(yaml.safe_dump(spec))
    db = f"sqlite:///{env['ws'] / 'kd_automl.db'}"

    errors = []

    def finished_trials():
        try:
            store = Store(db)
            exps = [e for e in store.experiments() if e.name.startswith("nni-interrupted-")]
            return [t for t in store.trials([e.id for e in exps])
                    if t.role == "search" and t.state == "complete"]
        except Exception as err:  # the store is being written
            errors[:] = [repr(err)]
            return []

    proc = subprocess.Popen([*KD_AUTOML, "nni", "start", str(path), "--trials", "30",
                             "--port", str(free_port())], env=env["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not finished_trials() and time.time() < deadline:
            time.sleep(1)
        assert finished_trials(), f"no trial finished in time (last error: {errors})"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    exp_id = re.search(r"experiment (\w+)", out).group(1)
    listed = kd(env, "nni", "list").stdout
    assert re.search(rf"{exp_id}\s.*STOPPED", listed)
    assert len(finished_trials()) >= 1
