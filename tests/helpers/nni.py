"""The NNI tests' tiny spec, the command they run and a free port."""

import socket
import sys

import pytest

# the NNI tests (test_nni.py) import this: without NNI they are skipped
pytest.importorskip("nni", reason='NNI is not installed (the "nni" extra)')

SPEC = {
    "name": "nni-tiny",
    "dataset": {"name": "digits"},
    "teacher": {"arch": "mlp", "width": 32, "depth": 1},
    "student": {"arch": "mlp", "width": 8, "depth": 1},
    "method": {"name": "kd", "temperature": 4.0, "alpha": 0.9},
    "train": {"epochs": 2, "batch_size": 128, "lr": 0.05},
    "teacher_train": {"epochs": 2, "batch_size": 128, "lr": 0.1},
    "pruner": {"name": "none"},
    "search": {
        "method.temperature": {"_type": "loguniform", "_value": [1, 20]},
        "method.alpha": {"_type": "uniform", "_value": [0.0, 1.0]},
    },
}
KD_AUTOML = [sys.executable, "-m", "kd_automl"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
