"""A warm trial's NNI: imported by the trial server without a trial's environment, then made
the forked trial's (kd_automl.trials.nni_state.reset) as a fresh import would be: its ids,
its command channel's URL, its trial.log. Against the installed NNI, in a process of its own
(NNI's state is global)."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("nni", reason='NNI is not installed (the "nni" extra)')

SCRIPT = r"""
import json, logging, os, sys
import nni                                   # as the server imports it: no trial environment
from kd_automl.trials.nni_state import reset
from nni.runtime.trial_command_channel import get_default_trial_command_channel

before = nni.get_trial_id()
os.environ.update(json.loads(sys.argv[1]))   # the forked trial's environment
reset()
channel = get_default_trial_command_channel()
print("a print of the trial's")
logging.getLogger("nni.test").info("a line of NNI's")
sys.stdout.flush()
sys.__stdout__.write(json.dumps({
    "before": before, "trial": nni.get_trial_id(), "experiment": nni.get_experiment_id(),
    "sequence": nni.get_sequence_id(), "channel": type(channel).__name__,
    "url": getattr(getattr(channel, "_channel", None), "_url", None),
    "nni_stdout_handlers": len(logging.getLogger("nni").handlers)}))
"""


def test_reset_makes_the_servers_nni_the_forked_trials(tmp_path):
    env = {"NNI_PLATFORM": "local", "NNI_EXP_ID": "exp1", "NNI_TRIAL_JOB_ID": "Ab1Cd",
           "NNI_OUTPUT_DIR": str(tmp_path), "NNI_SYS_DIR": str(tmp_path),
           "NNI_TRIAL_SEQ_ID": "3", "NNI_TRIAL_COMMAND_CHANNEL": "http://localhost:9/ch/Ab1Cd"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(env)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["before"] == "STANDALONE"  # what the server's import read
    assert (got["trial"], got["experiment"], got["sequence"]) == ("Ab1Cd", "exp1", 3)
    assert got["channel"] == "TrialCommandChannelV3"
    assert got["url"] == env["NNI_TRIAL_COMMAND_CHANNEL"]
    assert got["nni_stdout_handlers"] == 0  # the server's stdout handler is gone
    log = (tmp_path / "trial.log").read_text()
    assert "PRINT a print of the trial's" in log and "a line of NNI's" in log
