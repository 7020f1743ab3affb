"""NNI's secret URL prefix stays with its user: on no command line, in no file that another
local user can read. A real NNI experiment, launched through the kd-automl command."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
import yaml
from helpers.nni import KD_AUTOML, SPEC, free_port

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


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


@pytest.fixture
def world(tmp_path):
    """A folder every local user may enter (pytest's own tmp folder is private)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv(1) to act as user nobody")
    root = Path(tempfile.mkdtemp(prefix="kd-nni-secret-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_the_prefix_is_on_no_command_line_and_in_no_file_others_can_read(world):
    spec = world / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "name": "nni-secret"}))
    ws = world / "ws"
    env = {**os.environ, "HOME": str(world / "home"), "KD_AUTOML_WORKSPACE": str(ws),
           "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    control = world / "readable.txt"
    control.write_text("x")
    control.chmod(0o644)
    assert _nobody_reads(control)  # the check below means something

    proc = subprocess.run([*KD_AUTOML, "nni", "start", str(spec), "--trials", "2",
                           "--port", str(free_port()), "--detach"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    url = re.search(r"web UI: (http://127\.0\.0\.1:\d+/[\w-]+/)", proc.stdout).group(1)
    exp_id = re.search(r"experiment (\w+)", proc.stdout).group(1)
    prefix = url.rstrip("/").rsplit("/", 1)[1]
    secret = prefix.encode()
    try:
        # while it runs (manager, tuner, trials), no process shows the prefix
        deadline, status = time.time() + 300, "RUNNING"
        while status not in ("DONE", "ERROR", "STOPPED"):
            leaks = {pid: c for pid, c in _cmdlines().items() if secret in c}
            assert not leaks, f"prefix on a command line: {leaks}"
            r = requests.get(f"{url}api/v1/nni/check-status", timeout=5)
            assert r.status_code == 200  # the printed URL works
            status = r.json()["status"]
            assert time.time() < deadline, "experiment did not finish in time"
            time.sleep(0.5)
        assert status == "DONE"
        base = url.rsplit("/", 2)[0]
        assert requests.get(f"{base}/api/v1/nni/check-status", timeout=5).status_code == 404
        jobs = requests.get(f"{url}api/v1/nni/trial-jobs", timeout=5).json()
        assert {j["status"] for j in jobs} == {"SUCCEEDED"} and len(jobs) == 2
        assert requests.get(url, timeout=5).status_code == 200  # the web UI's page

        home = ws / "nni"
        for folder in [home, home / "nni-experiments", home / "nni-experiments" / exp_id]:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        holding = []
        for path in ws.rglob("*"):
            if path.is_file() and not path.is_symlink() and secret in path.read_bytes():
                holding.append(path)
                assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
                assert not _nobody_reads(path), path
        assert holding  # the secret file that `stop` reads, at least
        for path in home.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert not _nobody_reads(path), path
    finally:
        subprocess.run([*KD_AUTOML, "nni", "stop", exp_id], env=env, capture_output=True,
                       timeout=120)
