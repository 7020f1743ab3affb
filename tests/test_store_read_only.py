"""Reading results needs no write access, and a damaged database is one clear line.

The commands run as subprocesses, as a user's shell runs them. Root ignores file modes, so a
read-only workspace is a read-only bind mount in a private mount namespace (``unshare``);
other users get ``chmod a-w``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import requests
from helpers.stores import fill

from kd_automl.store import Store

KD_AUTOML = [sys.executable, "-m", "kd_automl"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def _ro_prefix(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` cannot be written, even by root."""
    if os.geteuid() != 0:
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return []
    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1) to mount a folder read-only as root")
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    prefix = ["unshare", "-m", "sh", "-c", script, str(folder)]
    probe = subprocess.run([*prefix, "touch", str(folder / "probe")], capture_output=True)
    if b"Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot mount a folder read-only here: {probe.stderr.decode()[:200]}")
    return prefix


def kd(*args, prefix=(), timeout=180):
    return subprocess.run([*prefix, *KD_AUTOML, *args], env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def kd_all(*commands, prefix=(), timeout=180) -> list[subprocess.CompletedProcess]:
    """``kd(*args)`` for each of ``commands`` (argument lists), all at once: their start-ups
    (one core each) overlap instead of queueing; the results in order."""
    running = [subprocess.Popen([*prefix, *KD_AUTOML, *args], env=ENV, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for args in commands]
    try:
        outputs = [p.communicate(timeout=timeout) for p in running]
        return [subprocess.CompletedProcess(p.args, p.returncode, out, err)
                for p, (out, err) in zip(running, outputs, strict=True)]
    finally:
        for p in running:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A workspace holding a real store (WAL mode; closed, so no -wal/-shm files)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    store = Store(f"sqlite:///{ws / 'kd_automl.db'}")
    fill(store, 3)
    store.dispose()
    for extra in ws.glob("kd_automl.db.*"):
        extra.unlink()  # the migration lock: a fresh copy of only the database
    with closing(sqlite3.connect(ws / "kd_automl.db")) as conn:  # closed: no -wal/-shm left
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    return ws


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dashboard_rows(args: list[str], prefix: list[str]) -> tuple[int, list]:
    """Start ``kd-automl dashboard``; the status of its page and the experiments it lists."""
    port = free_port()
    proc = subprocess.Popen([*prefix, *KD_AUTOML, "dashboard", "--port", str(port), *args],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"dashboard exited: {proc.stderr.read()}")
            try:
                page = requests.get(base + "/", timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        body = {"output": "experiments.rowData",
                "outputs": {"id": "experiments", "property": "rowData"},
                "inputs": [{"id": "version", "property": "data", "value": "x"}],
                "changedPropIds": ["version.data"]}
        r = requests.post(base + "/_dash-update-component", json=body, timeout=30)
        return page.status_code, r.json()["response"]["experiments"]["rowData"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_results_of_a_read_only_workspace_can_be_read(workspace, tmp_path):
    ro = _ro_prefix(workspace)
    db = f"sqlite:///{workspace / 'kd_automl.db'}"
    out = tmp_path / "elsewhere" / "report.html"
    *boards, report, no_out = kd_all(
        ["leaderboard", "-w", str(workspace), "-f", "json"],
        ["leaderboard", "--db", db, "-f", "json"],
        ["report", "-w", str(workspace), "--out", str(out)],
        ["report", "-w", str(workspace)], prefix=ro)
    for proc in boards:
        assert proc.returncode == 0, proc.stderr
        rows = json.loads(proc.stdout)
        assert len(rows) == 3 and {r["experiment"] for r in rows} == {"tiny-kd"}
    assert report.returncode == 0, report.stderr
    assert "tiny-kd" in out.read_text()
    # without --out the report would go into the read-only workspace: one clear line
    assert no_out.returncode == 1 and "--out" in no_out.stderr and \
        "Traceback" not in no_out.stderr
    status, rows = _dashboard_rows(["-w", str(workspace)], ro)
    assert status == 200 and [r["experiment"] for r in rows] == ["tiny-kd"]
    # nothing was written: no -wal/-shm/lock files appeared
    assert sorted(p.name for p in workspace.iterdir()) == ["kd_automl.db"]


def test_an_old_schema_on_read_only_storage_is_one_clear_line(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine

    from kd_automl.store.db import alembic_config

    ws = tmp_path / "old"
    ws.mkdir()
    engine = create_engine(f"sqlite:///{ws / 'kd_automl.db'}")
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    engine.dispose()
    proc = kd("leaderboard", "-w", str(ws), prefix=_ro_prefix(ws))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "older schema" in proc.stderr and "write access" in proc.stderr


def test_a_read_only_database_being_written_elsewhere_is_read_live(workspace):
    """The -wal and -shm files exist (a writer holds the database open): reads see its data."""
    writer = sqlite3.connect(workspace / "kd_automl.db")
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE kd_experiments SET name = 'renamed-live'")
        writer.commit()
        assert (workspace / "kd_automl.db-wal").stat().st_size > 0
        proc = kd("leaderboard", "-w", str(workspace), "-f", "json",
                  prefix=_ro_prefix(workspace))
        assert proc.returncode == 0, proc.stderr
        assert {r["experiment"] for r in json.loads(proc.stdout)} == {"renamed-live"}
    finally:
        writer.close()


@pytest.mark.parametrize("first_bad_page", [1, 3])
def test_a_corrupted_database_is_one_clear_line(workspace, tmp_path, first_bad_page):
    """Garbage over every page from ``first_bad_page`` on (header and schema page intact)."""
    db_file = workspace / "kd_automl.db"
    data = bytearray(db_file.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    rng = random.Random(first_bad_page)
    data[first_bad_page * page:] = bytes(rng.randrange(256)
                                         for _ in range(len(data) - first_bad_page * page))
    db_file.write_bytes(bytes(data))
    spec = tmp_path / "tiny.yaml"
    spec.write_text(json.dumps({"name": "tiny-kd", "dataset": {"name": "digits"},
                                "teacher": {"arch": "mlp", "width": 8, "depth": 1},
                                "student": {"arch": "mlp", "width": 4, "depth": 1},
                                "method": {"name": "kd"}, "train": {"epochs": 1},
                                "search": {"method.alpha": {"_type": "uniform",
                                                            "_value": [0, 1]}}}))
    commands = (["leaderboard"], ["report", "--out", str(tmp_path / "r.html")],
                ["optuna", str(spec), "--trials", "1"], ["dashboard", "--port", "0"])
    # the four commands at once (each opens the damaged file and stops): their start-ups,
    # one core each, overlap instead of queueing
    done = kd_all(*[[*args, "-w", str(workspace)] for args in commands])
    for args, proc in zip(commands, done, strict=True):
        err = proc.stderr.strip()
        assert proc.returncode == 1, (args, proc.stdout, err)
        # one error line (the optuna command's progress line may precede it)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and len(err.splitlines()) <= 2, (args, err)
        assert "Traceback" not in err and str(db_file) in errors[0], (args, err)
        assert "damaged" in errors[0], (args, err)
