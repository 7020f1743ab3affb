"""Shared fixtures and hand-computed helpers; the test tiers (markers by file).

``uv run pytest -m "not slow"`` is the quick loop; ``uv run pytest`` runs everything.
"""

import copy
import math
import signal
import time
from pathlib import Path

import pytest
import torch

# Each tier's files (measured with --durations=0 on the 2-core machine); a file in any
# tier is also ``slow``. A file named nowhere is in the quick tier.
TIERS = {
    "nni": ("test_nni.py", "test_nni_manager_wait.py", "test_launch_nni_stop.py",
            "test_nni_warm.py"),
    "browser": ("test_dashboard.py", "test_dashboard_launch.py", "test_analysis_report.py",
                "test_runs_panel_refresh.py"),
    "procs": ("test_launches.py", "test_launch_nni_stop.py", "test_interrupt.py",
              "test_worker_signals.py", "test_workers.py", "test_parallel.py",
              "test_remote_worker.py", "test_store_read_only.py", "test_runs_panel_refresh.py",
              "test_checkpoint.py"),
    "pg": ("test_postgres.py", "test_pg_schema_race.py", "test_remote_worker.py",
           "test_lean_optuna.py"),
    "e2e": ("test_cifar_specs.py", "test_cli.py", "test_confirm.py", "test_fused.py",
            "test_methods_e2e.py", "test_multi_objective.py", "test_optuna_e2e.py",
            "test_reskd_e2e.py", "test_reproduce.py", "test_warm_start.py", "test_strategy.py",
            "test_lean_optuna.py"),
    "slurm": ("test_slurm.py",),
    "ray": ("test_ray.py",),
}


# A Ctrl-C test sends SIGINT to a command as a terminal does. A run started in the background
# of a non-interactive shell (``sh -c 'uv run pytest ... &'``, as CI wrappers do) inherits
# SIGINT *ignored*; Python then installs no KeyboardInterrupt handler and every process the
# tests start inherits the ignore, so their SIGINT did nothing (test_nni's Ctrl-C test timed
# out in communicate(), the runs panel's Stop never stopped its ``sleep``). Give SIGINT its
# handler back: the processes started by the tests get SIGINT's default, as in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    """Mark every test with its file's tiers, and ``slow`` when it has one."""
    by_file = {}
    for tier, files in TIERS.items():
        for name in files:
            by_file.setdefault(name, []).append(tier)
    for item in items:
        tiers = by_file.get(Path(str(item.path)).name, [])
        for tier in tiers:
            item.add_marker(tier)
        if tiers:
            item.add_marker("slow")

TINY = {
    "name": "tiny-kd",
    "dataset": {"name": "digits"},
    "teacher": {"arch": "mlp", "width": 64, "depth": 1},
    "student": {"arch": "mlp", "width": 8, "depth": 1},
    "method": {"name": "kd", "temperature": 4.0, "alpha": 0.9},
    "train": {"epochs": 3, "batch_size": 128, "lr": 0.05},
    "teacher_train": {"epochs": 4, "batch_size": 128, "lr": 0.1},
    "pruner": {"name": "none"},
    "seed": 0,
    "search": {
        "method.temperature": {"_type": "loguniform", "_value": [1, 20]},
        "method.alpha": {"_type": "uniform", "_value": [0.0, 1.0]},
    },
}


@pytest.fixture
def tiny_spec_dict():
    return copy.deepcopy(TINY)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    monkeypatch.setenv("KD_AUTOML_WORKSPACE", str(ws))
    return ws


@pytest.fixture(scope="module")
def driver():
    """A headless Chromium shared by one test file's browser tests."""
    from helpers.browser import chromium

    drv = chromium()
    yield drv
    drv.quit()


@pytest.fixture
def one_thread():
    """Torch on one intra-op thread for the test (the machine's cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def wait_for(predicate, timeout=240, what="condition", poll_s=0.3):
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")


def softmax(z):
    """Plain-Python softmax of one row (hand-computed expectations in the loss tests)."""
    m = max(z)
    e = [math.exp(v - m) for v in z]
    return [v / sum(e) for v in e]


def kl(p, q):
    """KL(p || q) of two probability rows."""
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


def ce(z, label):
    """Cross-entropy of one row of logits against ``label``."""
    return -math.log(softmax(z)[label])


def fresh_pg_url(url: str, schema: str) -> str:
    """``url`` (PostgreSQL) with an empty schema ``schema`` first on its search path: a fresh
    database for the tables of kd-automl and Optuna, without the right to create databases."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}) \
        .render_as_string(hide_password=False)
