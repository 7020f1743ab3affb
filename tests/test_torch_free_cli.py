"""``kd-automl methods`` and ``check`` in one fresh interpreter (the CLI's ``main``, as
``python -m kd_automl`` runs it), and the modules each left loaded: ``methods`` (the table and
one method's details) and ``check`` load no torch: both read the methods' catalog, and ``check``
the models' (``kd_automl.models.catalog``), whose size rules need no model built. Only a spec
naming a ``torchvision`` model is checked by building it (on the meta device)."""

import json
import os
import subprocess
import sys

RUNNER = """
import contextlib, io, json, sys
from kd_automl.cli import main

def run(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(list(args))
        except SystemExit as e:
            assert not e.code, (args, e.code)
    return out.getvalue()

def loaded(prefix):
    return sorted(m for m in sys.modules if m == prefix or m.startswith(prefix + "."))

report = {"methods": run("methods"), "takd": run("methods", "takd")}
report["torch_after_methods"] = loaded("torch")
report["distill_after_methods"] = loaded("kd_automl.distill")
report["check"] = run("check", "digits_takd")
report["distill_after_check"] = loaded("kd_automl.distill")
report["models_after_check"] = loaded("kd_automl.models")
report["torch_after_check"] = loaded("torch")
report["check_fashion"] = run("check", "fashion_mnist_takd")
report["torch_after_fashion"] = loaded("torch")
print(json.dumps(report))
"""


def test_methods_and_check_load_no_torch(tmp_path):
    proc = subprocess.run([sys.executable, "-c", RUNNER], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200",
                               "KD_AUTOML_WORKSPACE": str(tmp_path / "ws")})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "sdd_nkd" in report["methods"] and "Hinton, Vinyals, Dean 2015" in report["methods"]
    assert "assistant_temperature" in report["takd"]
    assert "teacher, assistant(s)" in report["takd"]
    assert report["torch_after_methods"] == []
    light = ["kd_automl.distill", "kd_automl.distill.catalog", "kd_automl.distill.method_info",
             "kd_automl.distill.registry"]
    assert report["distill_after_methods"] == light
    assert report["check"].startswith("ok digits_takd: experiment")
    assert report["distill_after_check"] == light
    assert report["models_after_check"] == ["kd_automl.models", "kd_automl.models._size",
                                            "kd_automl.models.catalog",
                                            "kd_automl.models.registry"]
    assert report["torch_after_check"] == []
    assert report["check_fashion"].startswith("ok fashion_mnist_takd: experiment")
    assert report["torch_after_fashion"] == []


def test_a_torchvision_model_is_checked_by_building_it(tmp_path):
    """The one family whose names only its library knows: check loads torch for it, and a
    wrong name is one line naming the field."""
    spec = tmp_path / "tv.yaml"
    spec.write_text("name: tv\ndataset: {name: synthetic}\nteacher: {arch: cnn}\n"
                    "student: {arch: torchvision, name: nope}\nmethod: {name: kd}\n"
                    "train: {epochs: 1}\n")
    code = ("import sys\nfrom kd_automl.cli import main\ntry:\n    main(['check', sys.argv[1]])\n"
            "except SystemExit as e:\n    print('torch' in sys.modules, e.code)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200",
                               "KD_AUTOML_WORKSPACE": str(tmp_path / "ws")})
    out = proc.stdout + proc.stderr
    assert "student" in out and "unknown torchvision model 'nope'" in out, out
    assert proc.stdout.strip().splitlines()[0] == "True 1", out
