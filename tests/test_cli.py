"""The kd-automl command, run in-process; user errors exit 1 without a traceback."""

import json
import os

import pytest
import yaml

from kd_automl.cli import main


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err


@pytest.fixture
def spec_file(tmp_path, tiny_spec_dict):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_spec_dict))
    return path


def test_check_accepts_a_good_spec(capsys, spec_file):
    code, out, _ = run(capsys, "check", str(spec_file))
    assert code == 0 and "ok" in out and "method.temperature" in out


def test_check_a_ready_spec_by_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "check", "digits_kd")
    assert code == 0 and "experiment 'digits-kd'" in out.replace("\n", " ")
    code, _, err = run(capsys, "check", "digits_nosuch")
    assert code == 1 and "nor a ready spec" in err and "Traceback" not in err


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d["student"].update(arch="nosuchnet"), "unknown model 'nosuchnet'"),
    (lambda d: d["method"].update(name="nosuchkd"), "unknown method 'nosuchkd'"),
    (lambda d: d["train"].update(lr=-1), "train.lr"),
    (lambda d: d["search"].update({"method.temperature": {"_type": "loguniform",
                                                          "_value": [-1, 2]}}), "low > 0"),
])
def test_bad_specs_fail_with_one_message(capsys, tmp_path, tiny_spec_dict, mutate, fragment):
    mutate(tiny_spec_dict)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny_spec_dict))
    for command in (["check", str(path)], ["optuna", str(path), "--trials", "1"]):
        code, out, err = run(capsys, *command)
        assert code == 1
        assert fragment in err and str(path) in err
        assert "Traceback" not in err + out


def test_unwritable_workspace_and_unreachable_db(capsys, tmp_path, spec_file):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    # root ignores directory permissions, so also try a path below a regular file
    target = locked / "ws" if os.geteuid() != 0 else blocker / "ws"
    code, _, err = run(capsys, "optuna", str(spec_file), "--workspace", str(target))
    assert code == 1 and "not writable" in err and "Traceback" not in err
    code, _, err = run(capsys, "leaderboard", "--db", f"sqlite:///{tmp_path}/nope/kd.db")
    assert code == 1 and "cannot open database" in err
    code, _, err = run(capsys, "leaderboard", "--db", "postgresql://nobody@127.0.0.1:1/kd")
    assert code == 1 and "cannot reach database" in err and "Traceback" not in err


def test_optuna_then_leaderboard_and_report(capsys, workspace, spec_file):
    code, out, _ = run(capsys, "optuna", str(spec_file), "--trials", "3")
    assert code == 0 and "tiny-kd" in out and "Leaderboard" in out
    code, out, _ = run(capsys, "leaderboard", "--format", "json")
    rows = json.loads(out)
    assert len(rows) == 3 and [r["rank"] for r in rows] == [1, 2, 3]
    assert all(r["gain"] is not None and r["method"] == "kd" for r in rows)
    code, out, _ = run(capsys, "leaderboard", "--format", "csv", "--top", "2")
    lines = out.strip().splitlines()
    assert lines[0].startswith("rank,experiment") and len(lines) == 3
    code, out, _ = run(capsys, "report")
    html = (workspace / "reports" / "report.html").read_text()
    assert code == 0 and "Optimization history" in html and "tiny-kd" in html
    assert "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js embedded: opens offline
    code, out, _ = run(capsys, "methods")
    assert "kd" in out and "temperature" in out


def test_demo_runs_the_digits_search(capsys, workspace):
    code, out, _ = run(capsys, "demo", "--trials", "3")
    assert code == 0
    assert "digits-kd" in out and "gain" in out
    assert (workspace / "kd_automl.db").exists()
    assert (workspace / "reports" / "report.html").exists()
    assert list((workspace / "teachers").glob("*.pt"))


def test_methods_lists_sources_and_one_method_in_detail(capsys):
    code, out, _ = run(capsys, "methods")
    assert code == 0 and "follows" in out and "mdistiller" in out and "wttm" in out
    code, out, _ = run(capsys, "methods", "byot")
    assert code == 0 and "kd_t2" in out and "ArchipLab" in out and "true/false" in out
    code, _, err = run(capsys, "methods", "nosuch")
    assert code == 1 and "unknown method 'nosuch'" in err and "Traceback" not in err
