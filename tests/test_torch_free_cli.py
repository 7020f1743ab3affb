"""``kd-automl methods`` and ``check`` in one fresh interpreter (the CLI's ``main``, as
``python -m kd_automl`` runs it), and the modules each left loaded: ``methods`` (the table and
one method's details) loads no torch; ``check`` reads the methods from the catalog, so it loads
none of their torch modules (its models' meta-device build still loads torch)."""

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
print(json.dumps(report))
"""


def test_methods_load_no_torch_and_check_none_of_the_methods_torch_modules(tmp_path):
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
