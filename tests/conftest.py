import copy
import math
import time

import pytest
import torch

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
