"""`--slurm`'s options and checks that need no Slurm: profiles, flags, refusals, parsing."""

import pytest

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.slurm import scheduler
from kd_automl.orchestrate.slurm.options import SlurmOptions, resolve


def test_a_profile_s_cluster_section_and_the_command_line_over_it(tmp_path):
    profile = tmp_path / "cluster.yaml"
    profile.write_text("cluster:\n  partition: gpu\n  gpus-per-worker: 2\n  workers: 8\n"
                       "  mem: 16G\n  time: '12:00:00'\n")
    opts = resolve(profile, partition="a100", cpus_per_worker=None)
    assert (opts.partition, opts.gpus_per_worker, opts.workers) == ("a100", 2, 8)
    flags = opts.sbatch_flags()
    assert flags["partition"] == "a100" and flags["gpus-per-node"] == 2
    assert flags["mem"] == "16G" and flags["time"] == "12:00:00"
    assert flags["signal"] == "USR1@120" and flags["requeue"] is True
    assert "account" not in flags


def test_bad_profiles_are_one_clear_error(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("partition: gpu\n")
    with pytest.raises(KDAutoMLError, match="no `cluster:` section"):
        resolve(bad)
    bad.write_text("cluster:\n  partitoin: gpu\n")
    with pytest.raises(KDAutoMLError, match="unknown key.*partitoin"):
        resolve(bad)
    bad.write_text("cluster:\n  workers: many\n")
    with pytest.raises(KDAutoMLError, match="workers must be an integer"):
        resolve(bad)
    with pytest.raises(KDAutoMLError, match="cannot read cluster profile"):
        resolve(tmp_path / "missing.yaml")


def test_without_sbatch_and_with_sqlite(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(KDAutoMLError, match="needs Slurm's sbatch on the PATH"):
        scheduler.require_sbatch()
    monkeypatch.setattr(scheduler, "node_names", lambda partition=None: ["n1"])
    with pytest.raises(KDAutoMLError, match="pass --single-node"):
        scheduler.check_store("sqlite:///x.db", SlurmOptions())
    scheduler.check_store("sqlite:///x.db", SlurmOptions(single_node=True))
    monkeypatch.setattr(scheduler, "node_names", lambda partition=None: ["n1", "n2"])
    with pytest.raises(KDAutoMLError, match="has 2 node.*cannot use this machine's file"):
        scheduler.check_store("sqlite:///x.db", SlurmOptions(single_node=False))
    scheduler.check_store("postgresql+psycopg://u@h/db", SlurmOptions())


def test_scontrol_lines_parse_per_task():
    text = ("JobId=8 ArrayJobId=7 ArrayTaskId=1 JobName=kd-x JobState=RUNNING Reason=None "
            "Restarts=1 NodeList=vm StdOut=/a b/7_1_0_log.out\n"
            "JobId=7 ArrayJobId=7 ArrayTaskId=0 JobState=COMPLETED NodeList=vm\n")
    tasks = scheduler.parse_show_job(text)
    assert [scheduler.task_name(t) for t in tasks] == ["7_1", "7_0"]
    assert tasks[0]["Restarts"] == "1" and tasks[0]["StdOut"] == "/a b/7_1_0_log.out"
    assert scheduler.task_name({"JobId": "9"}) == "9"
