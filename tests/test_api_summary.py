"""The Python API as a script uses it: ``run_study`` with no logging set up prints one line per
trial, and its summary names the best trial, its accuracies (fractions), its gain over the
student alone and its kept weights. A fresh interpreter, so logging is as a script finds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import yaml


def test_a_script_sees_each_trial_and_gets_the_best_trials_numbers(tmp_path, tiny_spec_dict):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({**tiny_spec_dict, "train": {
        **tiny_spec_dict["train"], "epochs": 2}}))
    script = textwrap.dedent(f"""
        import dataclasses, json
        from kd_automl.optuna import run_study
        s = run_study({str(spec)!r}, n_trials=3, workspace={str(tmp_path / "ws")!r})
        d = dataclasses.asdict(s)
        d["best_weights"] = None if s.best_weights is None else str(s.best_weights)
        print(json.dumps(d))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    trial_lines = [line for line in proc.stderr.splitlines() if "] trial " in line]
    assert len(trial_lines) == 3, proc.stderr  # one each, once
    assert trial_lines[0].startswith("tiny-kd [1/3] trial 0 complete val_acc ")
    assert "3 trial(s) to run; training the teacher first" in proc.stderr
    assert "student alone" in proc.stderr
    s = json.loads(proc.stdout.strip().splitlines()[-1])
    assert s["trials_run"] == 3 and s["best_trial"] in (0, 1, 2)
    assert 0 < s["best_val_acc"] <= 1 and 0 < s["best_test_acc"] <= 1  # fractions
    assert s["best_value"] == s["best_val_acc"]  # the objective is val_acc
    assert abs(s["best_gain"] - (s["best_test_acc"] - s["student_alone_test_acc"])) < 1e-9
    assert s["best_weights"] and os.path.isfile(s["best_weights"])
    # the leaderboard's best row is the summary's best trial
    proc = subprocess.run([sys.executable, "-m", "kd_automl", "leaderboard", "--format", "json",
                           "--workspace", str(tmp_path / "ws")], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    rows = json.loads(proc.stdout)
    assert rows[0]["trial"] == str(s["best_trial"])
    assert rows[0]["student_test_acc"] == s["best_test_acc"]
