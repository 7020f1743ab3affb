"""The reproduction specs are valid and the runner refuses clearly where it cannot run."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kd_automl.cli import main
from kd_automl.data.cifar import write_fake_cifar

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "benchmarks" / "reproduce.py"
SPECS = sorted((ROOT / "search_spaces" / "reproduce").glob("*.yaml"))


def test_there_is_a_spec_for_each_published_number():
    sys.path.insert(0, str(RUNNER.parent))
    try:
        from reproduce import PUBLISHED
    finally:
        sys.path.remove(str(RUNNER.parent))
    assert {p.spec for p in PUBLISHED.values()} == {s.stem for s in SPECS}
    assert {n: p.accuracy for n, p in PUBLISHED.items()} == {
        "kd": 73.33, "dkd": 76.32, "kd_ls": 76.62, "takd_kd": 61.41, "takd": 61.82,
        "fmnist_kd": 89.66, "fmnist_alone": 89.43}
    assert {p.teacher for n, p in PUBLISHED.items() if n.startswith("fmnist")} == {90.84}


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_each_reproduction_spec_passes_check(capsys, spec):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(spec)])
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert exit_info.value.code in (0, None), out
    # fixed published settings: one configuration, for `kd-automl train`
    assert out.startswith("ok ") and "no search section" in out and "kd-automl train" in out


def _runner(tmp_path, *args):
    env = {"PATH": "/usr/bin:/bin", "KD_AUTOML_DATA": str(tmp_path / "data"),
           "KD_AUTOML_WORKSPACE": str(tmp_path / "ws"), "OMP_NUM_THREADS": "1",
           "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, str(RUNNER), *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=tmp_path)


def test_runner_fails_in_one_line_without_cifar100(tmp_path):
    done = _runner(tmp_path, "--device", "cpu", "--epochs", "1", "--only", "kd")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and done.stdout == ""
    assert lines[0].startswith("reproduce: cifar100:") and "missing" in lines[0]
    assert "kd-automl data download cifar100" in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_runner_refuses_without_a_gpu_unless_cpu_is_asked_for(tmp_path):
    write_fake_cifar(tmp_path / "data", "cifar100")  # the files exist: the data check passes
    done = _runner(tmp_path, "--epochs", "1")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "reproduce: no CUDA GPU here: these runs take days on a CPU; run on a GPU machine "
        "(or pass --device cpu for a smoke run only)"]


def test_runner_prints_the_fashion_mnist_row_beside_the_published_one(tmp_path):
    from test_fashion_mnist import write_mnist

    # ZSKD's Fashion-MNIST row, on a stand-in written in its format (the real files are read
    # by tests/test_fashion_mnist.py); the spec's data folder is the test's
    fake = tmp_path / "data"
    write_mnist(fake, n_train=300, n_test=50)
    done = _runner(tmp_path, "--only", "fmnist_kd", "fmnist_alone", "--epochs", "1",
                   "--seeds", "1", "2", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    header, kd, alone = done.stdout.strip().splitlines()
    assert "not comparable" in header and "teacher (published)" in header
    assert kd.split()[0] == "fmnist_kd" and "89.66" in kd and "(90.84)" in kd and "±" in kd
    assert alone.split()[0] == "fmnist_alone" and "89.43" in alone
    assert "ZSKD" in kd and "as quoted" in kd
